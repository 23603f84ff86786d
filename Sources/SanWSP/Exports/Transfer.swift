import WinSock

// Overlapped message transfer. Every operation that starts returns WSA_IO_PENDING and completes
// exactly once (WPUCompleteOverlappedRequest, or the overlapped fields alone when hEvent bit 0
// is set) — possibly before the call returns. Errors returned directly mean nothing started.

/// Checks the arguments every overlapped call shares.
private func overlappedArguments(
    _ lpOverlapped: LPWSAOVERLAPPED?, _ routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?
) throws(WSAError) -> UInt {
    // The switch always passes an overlapped structure and never a completion routine (APCs do
    // not exist here).
    guard let lpOverlapped, routine == nil else { throw .invalid }
    return UInt(bitPattern: lpOverlapped)
}

@c @implementation
public func WSPSend(
    _ s: SOCKET, _ lpBuffers: LPWSABUF?, _ dwBufferCount: DWORD, _ lpNumberOfBytesSent: LPDWORD?,
    _ dwFlags: DWORD, _ lpOverlapped: LPWSAOVERLAPPED?,
    _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?, _ lpThreadId: LPWSATHREADID?,
    _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        let socket = try Provider.shared.socket(s)
        let ov = try overlappedArguments(lpOverlapped, lpCompletionRoutine)
        guard dwFlags == 0 else { throw .opNotSupported }   // no MSG_OOB/MSG_PARTIAL on a SAN
        let segments = try Segments(
            lpBuffers, count: Int(dwBufferCount), extended: false, limit: ProviderSocket.maximumBuffers)
        try socket.startTransfer(TransferOp(overlapped: ov, segments: segments, kind: .send))
        throw WSAError(WSA_IO_PENDING)
    }
}

@c @implementation
public func WSPRecv(
    _ s: SOCKET, _ lpBuffers: LPWSABUF?, _ dwBufferCount: DWORD,
    _ lpNumberOfBytesRecvd: LPDWORD?, _ lpFlags: LPDWORD?, _ lpOverlapped: LPWSAOVERLAPPED?,
    _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?, _ lpThreadId: LPWSATHREADID?,
    _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        let socket = try Provider.shared.socket(s)
        let ov = try overlappedArguments(lpOverlapped, lpCompletionRoutine)
        guard let lpFlags else { throw .fault }
        guard lpFlags.pointee == 0 else { throw .opNotSupported }   // no MSG_PEEK/MSG_OOB
        let segments = try Segments(
            lpBuffers, count: Int(dwBufferCount), extended: false, limit: ProviderSocket.maximumBuffers)
        try socket.startTransfer(TransferOp(overlapped: ov, segments: segments, kind: .receive))
        throw WSAError(WSA_IO_PENDING)
    }
}

@c @implementation
public func WSPGetOverlappedResult(
    _ s: SOCKET, _ lpOverlapped: LPWSAOVERLAPPED?, _ lpcbTransfer: LPDWORD?, _ fWait: BOOL,
    _ lpdwFlags: LPDWORD?, _ lpErrno: LPINT?
) -> BOOL {
    reporting(lpErrno, failure: 0) { () throws(WSAError) -> BOOL in
        let socket = try Provider.shared.socket(s)
        guard let lpOverlapped, let lpcbTransfer, let lpdwFlags else { throw .fault }
        let (bytes, flags) = try socket.overlappedResult(lpOverlapped, wait: fWait != 0)
        lpcbTransfer.pointee = bytes
        lpdwFlags.pointee = flags
        return 1
    }
}
