import Glibc
import WinSock

@c @implementation
public func WSPListen(_ s: SOCKET, _ backlog: Int32, _ lpErrno: LPINT?) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.socket(s).listen(backlog: backlog, provider: .shared)
    }
}

@c @implementation
public func WSPAccept(
    _ s: SOCKET, _ addr: UnsafeMutablePointer<sockaddr>?, _ addrlen: LPINT?,
    _ lpfnCondition: LPCONDITIONPROC?, _ dwCallbackData: DWORD_PTR, _ lpErrno: LPINT?
) -> SOCKET {
    reporting(lpErrno, failure: SOCKET.invalid) { () throws(WSAError) -> SOCKET in
        try Provider.shared.socket(s).accept(
            addr: addr, addrlen: addrlen, condition: lpfnCondition,
            callbackData: dwCallbackData, provider: .shared)
    }
}

@c @implementation
public func WSPConnect(
    _ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32, _ lpCallerData: LPWSABUF?,
    _ lpCalleeData: LPWSABUF?, _ lpSQOS: LPQOS?, _ lpGQOS: LPQOS?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        let socket = try Provider.shared.socket(s)
        let remote = try SocketAddress(reading: name, length: namelen, expectedFamily: socket.family)
        var callerData: [UInt8] = []
        if let caller = lpCallerData?.pointee, caller.len > 0 {
            // Over the limit is "lpCallerData too large": WSAEFAULT, nothing is attempted.
            guard let buf = caller.buf, Int(caller.len) <= ConnectData.maximum else { throw .fault }
            callerData = Array(UnsafeRawBufferPointer(start: buf, count: Int(caller.len)))
        }
        if let callee = lpCalleeData?.pointee, callee.len > 0, callee.buf == nil { throw .fault }
        try QoSPolicy.check(lpSQOS.map { UnsafePointer($0) })
        try socket.connect(
            to: remote, callerData: callerData, calleeBuffer: lpCalleeData, provider: .shared)
    }
}
