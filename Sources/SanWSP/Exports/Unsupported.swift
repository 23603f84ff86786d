import WinSock

// Entry points the switch never calls on a SAN provider (spec §2.0). Each fills its proc-table
// slot and fails with WSAEOPNOTSUPP, so a switch that calls one anyway gets an answer, not a
// NULL call. README lists them as missing.

@c @implementation
public func WSPAddressToString(
    _ lpsaAddress: LPSOCKADDR?, _ dwAddressLength: DWORD, _ lpProtocolInfo: LPWSAPROTOCOL_INFOW?,
    _ lpszAddressString: LPWSTR?, _ lpdwAddressStringLength: LPDWORD?, _ lpErrno: LPINT?
) -> INT {
    notSupported(lpErrno)
}

@c @implementation
public func WSPAsyncSelect(
    _ s: SOCKET, _ hWnd: HWND?, _ wMsg: UInt32, _ lEvent: LONG, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPCancelBlockingCall(_ lpErrno: LPINT?) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPJoinLeaf(
    _ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32, _ lpCallerData: LPWSABUF?,
    _ lpCalleeData: LPWSABUF?, _ lpSQOS: LPQOS?, _ lpGQOS: LPQOS?, _ dwFlags: DWORD,
    _ lpErrno: LPINT?
) -> SOCKET {
    lpErrno?.pointee = WSAEOPNOTSUPP
    return .invalid
}

@c @implementation
public func WSPRecvDisconnect(
    _ s: SOCKET, _ lpInboundDisconnectData: LPWSABUF?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPRecvFrom(
    _ s: SOCKET, _ lpBuffers: LPWSABUF?, _ dwBufferCount: DWORD,
    _ lpNumberOfBytesRecvd: LPDWORD?, _ lpFlags: LPDWORD?, _ lpFrom: UnsafeMutablePointer<sockaddr>?,
    _ lpFromlen: LPINT?, _ lpOverlapped: LPWSAOVERLAPPED?,
    _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?, _ lpThreadId: LPWSATHREADID?,
    _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPSelect(
    _ nfds: Int32, _ readfds: UnsafeMutablePointer<WS_fd_set>?,
    _ writefds: UnsafeMutablePointer<WS_fd_set>?, _ exceptfds: UnsafeMutablePointer<WS_fd_set>?,
    _ timeout: UnsafePointer<WS_timeval>?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPSendDisconnect(
    _ s: SOCKET, _ lpOutboundDisconnectData: LPWSABUF?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPSendTo(
    _ s: SOCKET, _ lpBuffers: LPWSABUF?, _ dwBufferCount: DWORD,
    _ lpNumberOfBytesSent: LPDWORD?, _ dwFlags: DWORD, _ lpTo: UnsafePointer<sockaddr>?,
    _ iTolen: Int32, _ lpOverlapped: LPWSAOVERLAPPED?,
    _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?, _ lpThreadId: LPWSATHREADID?,
    _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPShutdown(_ s: SOCKET, _ how: Int32, _ lpErrno: LPINT?) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPStringToAddress(
    _ AddressString: LPWSTR?, _ AddressFamily: INT, _ lpProtocolInfo: LPWSAPROTOCOL_INFOW?,
    _ lpAddress: LPSOCKADDR?, _ lpAddressLength: LPINT?, _ lpErrno: LPINT?
) -> INT {
    notSupported(lpErrno)
}

@c @implementation
public func WSPDuplicateSocket(
    _ s: SOCKET, _ dwProcessId: DWORD, _ lpProtocolInfo: LPWSAPROTOCOL_INFOW?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPGetQOSByName(
    _ s: SOCKET, _ lpQOSName: LPWSABUF?, _ lpQOS: LPQOS?, _ lpErrno: LPINT?
) -> BOOL {
    lpErrno?.pointee = WSAEOPNOTSUPP
    return 0
}

@inline(__always)
func notSupported(_ lpErrno: LPINT?) -> Int32 {
    lpErrno?.pointee = WSAEOPNOTSUPP
    return SOCKET_ERROR
}
