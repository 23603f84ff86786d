import WinSock

/// A Winsock error code. The one error type of the core: every failure becomes a `WSAError`
/// and the C edge stores `code` into `*lpErrno`.
struct WSAError: Error, Equatable, CustomStringConvertible {
    let code: Int32
    init(_ code: Int32) { self.code = code }

    var description: String { "WSAError(\(code))" }

    static let fault = WSAError(WSAEFAULT)
    static let invalid = WSAError(WSAEINVAL)
    static let notSocket = WSAError(WSAENOTSOCK)
    static let notInitialised = WSAError(WSANOTINITIALISED)
    static let opNotSupported = WSAError(WSAEOPNOTSUPP)
    static let noBuffers = WSAError(WSAENOBUFS)
    static let noProtocolOption = WSAError(WSAENOPROTOOPT)
    static let addressNotAvailable = WSAError(WSAEADDRNOTAVAIL)
    static let addressInUse = WSAError(WSAEADDRINUSE)
    static let notConnected = WSAError(WSAENOTCONN)
    static let tooManySockets = WSAError(WSAEMFILE)
    static let invalidHandle = WSAError(WSA_INVALID_HANDLE)
    static let invalidParameter = WSAError(WSA_INVALID_PARAMETER)
}
