import WinSock

// Overlapped message transfer. (Issue 4: not yet implemented.)

@c @implementation
public func WSPSend(
    _ s: SOCKET, _ lpBuffers: LPWSABUF?, _ dwBufferCount: DWORD, _ lpNumberOfBytesSent: LPDWORD?,
    _ dwFlags: DWORD, _ lpOverlapped: LPWSAOVERLAPPED?,
    _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?, _ lpThreadId: LPWSATHREADID?,
    _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPRecv(
    _ s: SOCKET, _ lpBuffers: LPWSABUF?, _ dwBufferCount: DWORD,
    _ lpNumberOfBytesRecvd: LPDWORD?, _ lpFlags: LPDWORD?, _ lpOverlapped: LPWSAOVERLAPPED?,
    _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?, _ lpThreadId: LPWSATHREADID?,
    _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPGetOverlappedResult(
    _ s: SOCKET, _ lpOverlapped: LPWSAOVERLAPPED?, _ lpcbTransfer: LPDWORD?, _ fWait: BOOL,
    _ lpdwFlags: LPDWORD?, _ lpErrno: LPINT?
) -> BOOL {
    lpErrno?.pointee = WSAEOPNOTSUPP
    return 0
}
