import WinSock

// The seven SAN extension functions (issue 4: not yet implemented). They are exported under
// their own names and handed out by SIO_GET_EXTENSION_FUNCTION_POINTER once real.

enum ExtensionExports {
    /// The function pointer for an extension, or nil while it is not implemented (the ioctl
    /// then answers WSAEOPNOTSUPP).
    static func pointer(for function: ExtensionFunction) -> UnsafeRawPointer? {
        nil
    }
}

@c @implementation
public func WSPRegisterMemory(
    _ s: SOCKET, _ lpBuffer: PVOID?, _ dwBufferLength: DWORD, _ dwFlags: DWORD, _ lpErrno: LPINT?
) -> HANDLE? {
    lpErrno?.pointee = WSAEOPNOTSUPP
    return nil
}

@c @implementation
public func WSPDeregisterMemory(_ s: SOCKET, _ Handle: HANDLE?, _ lpErrno: LPINT?) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPRegisterRdmaMemory(
    _ s: SOCKET, _ lpBuffer: PVOID?, _ dwBufferLength: DWORD, _ dwFlags: DWORD,
    _ lpRdmaBufferDescriptor: LPVOID?, _ lpdwDescriptorLength: LPDWORD?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPDeregisterRdmaMemory(
    _ s: SOCKET, _ lpRdmaBufferDescriptor: LPVOID?, _ dwDescriptorLength: DWORD, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPRdmaWrite(
    _ s: SOCKET, _ lpBuffers: LPWSABUFEX?, _ dwBufferCount: DWORD,
    _ lpTargetBufferDescriptor: LPVOID?, _ dwTargetDescriptorLength: DWORD,
    _ dwTargetBufferOffset: DWORD, _ lpdwNumberOfBytesWritten: LPDWORD?, _ dwFlags: DWORD,
    _ lpOverlapped: LPWSAOVERLAPPED?, _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?,
    _ lpThreadId: LPWSATHREADID?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPRdmaRead(
    _ s: SOCKET, _ lpBuffers: LPWSABUFEX?, _ dwBufferCount: DWORD,
    _ lpTargetBufferDescriptor: LPVOID?, _ dwTargetDescriptorLength: DWORD,
    _ dwTargetBufferOffset: DWORD, _ lpdwNumberOfBytesRead: LPDWORD?, _ dwFlags: DWORD,
    _ lpOverlapped: LPWSAOVERLAPPED?, _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?,
    _ lpThreadId: LPWSATHREADID?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPMemoryRegistrationCacheCallback(
    _ lpvAddress: LPVOID?, _ Size: SIZE_T, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}
