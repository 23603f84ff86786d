import Glibc
import WinSock

@c @implementation
public func WSPSocket(
    _ af: Int32, _ type: Int32, _ protocol: Int32, _ lpProtocolInfo: LPWSAPROTOCOL_INFOW?,
    _ g: GROUP, _ dwFlags: DWORD, _ lpErrno: LPINT?
) -> SOCKET {
    reporting(lpErrno, failure: SOCKET.invalid) { () throws(WSAError) -> SOCKET in
        try Provider.shared.createSocket(
            family: af, type: type, protocol: `protocol`, protocolInfo: lpProtocolInfo?.pointee,
            group: g, flags: dwFlags)
    }
}

@c @implementation
public func WSPCloseSocket(_ s: SOCKET, _ lpErrno: LPINT?) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in try Provider.shared.closeSocket(s) }
}

@c @implementation
public func WSPBind(
    _ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in try Provider.shared.bind(s, name, namelen) }
}

@c @implementation
public func WSPGetSockName(
    _ s: SOCKET, _ name: UnsafeMutablePointer<sockaddr>?, _ namelen: LPINT?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.localName(s).copyOut(name, namelen)
    }
}

@c @implementation
public func WSPGetPeerName(
    _ s: SOCKET, _ name: UnsafeMutablePointer<sockaddr>?, _ namelen: LPINT?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.peerName(s).copyOut(name, namelen)
    }
}
