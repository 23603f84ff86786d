import WinSock

// Connection management: listen, accept, connect. (Issue 3: not yet implemented.)

@c @implementation
public func WSPListen(_ s: SOCKET, _ backlog: Int32, _ lpErrno: LPINT?) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPAccept(
    _ s: SOCKET, _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: LPINT?,
    _ lpfnCondition: LPCONDITIONPROC?, _ dwCallbackData: DWORD_PTR, _ lpErrno: LPINT?
) -> SOCKET {
    lpErrno?.pointee = WSAEOPNOTSUPP
    return .invalid
}

@c @implementation
public func WSPConnect(
    _ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32, _ lpCallerData: LPWSABUF?,
    _ lpCalleeData: LPWSABUF?, _ lpSQOS: LPQOS?, _ lpGQOS: LPQOS?, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}
