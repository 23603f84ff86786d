import WinSock

@c @implementation
public func WSPGetSockOpt(
    _ s: SOCKET, _ level: Int32, _ optname: Int32, _ optval: UnsafeMutablePointer<CChar>?,
    _ optlen: LPINT?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.getOption(
            s, level: level, name: optname, optval.map(UnsafeMutableRawPointer.init), optlen)
    }
}

@c @implementation
public func WSPSetSockOpt(
    _ s: SOCKET, _ level: Int32, _ optname: Int32, _ optval: UnsafePointer<CChar>?,
    _ optlen: Int32, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.setOption(
            s, level: level, name: optname, optval.map(UnsafeRawPointer.init), optlen)
    }
}
