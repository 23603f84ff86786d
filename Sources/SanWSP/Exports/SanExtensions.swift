import WinSock

// The seven SAN extension functions: exported under their own names and handed out by
// SIO_GET_EXTENSION_FUNCTION_POINTER.

enum ExtensionExports {
    static func pointer(for function: ExtensionFunction) -> UnsafeRawPointer? {
        switch function {
        case .registerMemory:
            let f: LPFN_WSPREGISTERMEMORY = WSPRegisterMemory
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        case .deregisterMemory:
            let f: LPFN_WSPDEREGISTERMEMORY = WSPDeregisterMemory
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        case .registerRdmaMemory:
            let f: LPFN_WSPREGISTERRDMAMEMORY = WSPRegisterRdmaMemory
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        case .deregisterRdmaMemory:
            let f: LPFN_WSPDEREGISTERRDMAMEMORY = WSPDeregisterRdmaMemory
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        case .rdmaWrite:
            let f: LPFN_WSPRDMAWRITE = WSPRdmaWrite
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        case .rdmaRead:
            let f: LPFN_WSPRDMAREAD = WSPRdmaRead
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        case .memoryRegistrationCacheCallback:
            let f: LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK = WSPMemoryRegistrationCacheCallback
            return unsafeBitCast(f, to: UnsafeRawPointer.self)
        }
    }
}

@c @implementation
public func WSPRegisterMemory(
    _ s: SOCKET, _ lpBuffer: PVOID?, _ dwBufferLength: DWORD, _ dwFlags: DWORD, _ lpErrno: LPINT?
) -> HANDLE? {
    reporting(lpErrno, failure: nil) { () throws(WSAError) -> HANDLE? in
        try Provider.shared.socket(s).registerMemory(
            lpBuffer, length: dwBufferLength, flags: dwFlags, descriptor: UInt64(s),
            cache: Provider.shared.registrationCache)
    }
}

@c @implementation
public func WSPDeregisterMemory(_ s: SOCKET, _ Handle: HANDLE?, _ lpErrno: LPINT?) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.socket(s).deregisterMemory(Handle, descriptor: UInt64(s))
    }
}

@c @implementation
public func WSPRegisterRdmaMemory(
    _ s: SOCKET, _ lpBuffer: PVOID?, _ dwBufferLength: DWORD, _ dwFlags: DWORD,
    _ lpRdmaBufferDescriptor: LPVOID?, _ lpdwDescriptorLength: LPDWORD?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.socket(s).registerRdmaMemory(
            lpBuffer, length: dwBufferLength, flags: dwFlags, descriptor: lpRdmaBufferDescriptor,
            descriptorLength: lpdwDescriptorLength, cache: Provider.shared.registrationCache)
    }
}

@c @implementation
public func WSPDeregisterRdmaMemory(
    _ s: SOCKET, _ lpRdmaBufferDescriptor: LPVOID?, _ dwDescriptorLength: DWORD, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.socket(s).deregisterRdmaMemory(
            lpRdmaBufferDescriptor.map { UnsafeRawPointer($0) }, length: dwDescriptorLength)
    }
}

/// WSPRdmaWrite and WSPRdmaRead share everything but the direction.
private func rdma(
    _ kind: TransferKind, _ s: SOCKET, _ lpBuffers: LPWSABUFEX?, _ count: DWORD,
    _ descriptor: LPVOID?, _ descriptorLength: DWORD, _ offset: DWORD, _ flags: DWORD,
    _ lpOverlapped: LPWSAOVERLAPPED?, _ routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?
) throws(WSAError) {
    let socket = try Provider.shared.socket(s)
    guard let lpOverlapped, routine == nil else { throw .invalid }
    let segments = try Segments(
        lpBuffers, count: Int(count), extended: true, limit: ProviderSocket.maximumBuffers)
    try socket.startTransfer(
        TransferOp(overlapped: UInt(bitPattern: lpOverlapped), segments: segments, kind: kind,
                   flags: flags),
        handles: lpBuffers.map { UnsafePointer($0) },
        remote: (descriptor.map { UnsafeRawPointer($0) }, descriptorLength, offset))
    throw WSAError(WSA_IO_PENDING)
}

@c @implementation
public func WSPRdmaWrite(
    _ s: SOCKET, _ lpBuffers: LPWSABUFEX?, _ dwBufferCount: DWORD,
    _ lpTargetBufferDescriptor: LPVOID?, _ dwTargetDescriptorLength: DWORD,
    _ dwTargetBufferOffset: DWORD, _ lpdwNumberOfBytesWritten: LPDWORD?, _ dwFlags: DWORD,
    _ lpOverlapped: LPWSAOVERLAPPED?, _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?,
    _ lpThreadId: LPWSATHREADID?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try rdma(.rdmaWrite, s, lpBuffers, dwBufferCount, lpTargetBufferDescriptor,
                 dwTargetDescriptorLength, dwTargetBufferOffset, dwFlags, lpOverlapped,
                 lpCompletionRoutine)
    }
}

@c @implementation
public func WSPRdmaRead(
    _ s: SOCKET, _ lpBuffers: LPWSABUFEX?, _ dwBufferCount: DWORD,
    _ lpTargetBufferDescriptor: LPVOID?, _ dwTargetDescriptorLength: DWORD,
    _ dwTargetBufferOffset: DWORD, _ lpdwNumberOfBytesRead: LPDWORD?, _ dwFlags: DWORD,
    _ lpOverlapped: LPWSAOVERLAPPED?, _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?,
    _ lpThreadId: LPWSATHREADID?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try rdma(.rdmaRead, s, lpBuffers, dwBufferCount, lpTargetBufferDescriptor,
                 dwTargetDescriptorLength, dwTargetBufferOffset, dwFlags, lpOverlapped,
                 lpCompletionRoutine)
    }
}

@c @implementation
public func WSPMemoryRegistrationCacheCallback(
    _ lpvAddress: LPVOID?, _ Size: SIZE_T, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        guard let lpvAddress else { throw .invalid }
        guard Provider.shared.registrationCache.invalidate(
            base: UInt(bitPattern: lpvAddress), length: Int(Size)) else { throw .invalid }
    }
}
