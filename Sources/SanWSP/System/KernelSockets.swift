import CSystem
import WinSock
import Glibc

/// Kernel TCP socket calls for the soft transport, through the same seam as `Syscall`:
/// EINTR is retried, failures come back as `SysError`, and tests can force an errno.
extension Syscall {
    static func tcpSocket(family: Int32) -> Result<Int32, SysError> {
        if let forced = SyscallFaults.take(.socket) { return .failure(forced) }
        let fd = sanwsp_tcp_socket(family)
        return fd >= 0 ? .success(fd) : .failure(SysError(errno))
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) -> Result<Void, SysError> {
        if let forced = SyscallFaults.take(.bind) { return .failure(forced) }
        var storage = sockaddr_storage()
        let rc = withUnsafeMutableBytes(of: &storage) { raw -> Int32 in
            address.write(to: raw.baseAddress!)
            return Glibc.bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                              socklen_t(address.length))
        }
        return rc == 0 ? .success(()) : .failure(SysError(errno))
    }

    static func listen(_ fd: Int32, backlog: Int32) -> Result<Void, SysError> {
        Glibc.listen(fd, backlog) == 0 ? .success(()) : .failure(SysError(errno))
    }

    /// Starts a nonblocking connect: success means connected at once, EINPROGRESS is success
    /// too (completion is reported by writability and SO_ERROR).
    static func connect(_ fd: Int32, _ address: SocketAddress) -> Result<Void, SysError> {
        if let forced = SyscallFaults.take(.connect) { return .failure(forced) }
        var storage = sockaddr_storage()
        while true {
            let rc = withUnsafeMutableBytes(of: &storage) { raw -> Int32 in
                address.write(to: raw.baseAddress!)
                return Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                                     socklen_t(address.length))
            }
            if rc == 0 || errno == EINPROGRESS { return .success(()) }
            if errno != EINTR { return .failure(SysError(errno)) }
        }
    }

    /// accept4 (nonblocking, close-on-exec); nil when nothing is pending.
    static func accept(_ fd: Int32) -> Result<Int32?, SysError> {
        while true {
            let c = sanwsp_accept_nonblocking(fd)
            if c >= 0 { return .success(c) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .success(nil)
            default: return .failure(SysError(errno))
            }
        }
    }

    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var len = socklen_t(4)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) == 0 ? value : errno
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, 4)
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutableBytes(of: &storage) { raw -> SocketAddress? in
            let sa = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            guard getsockname(fd, sa, &len) == 0 else { return nil }
            return SocketAddress(kernel: sa)
        }
    }

    /// send(2) with MSG_NOSIGNAL: bytes written, 0 for "would block", or the errno.
    static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Result<Int, SysError> {
        while true {
            let n = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .success(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .success(0)
            default: return .failure(SysError(errno))
            }
        }
    }

    /// recv(2): bytes read, nil for "would block", 0 for end of stream, or the errno.
    static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer)
        -> Result<Int?, SysError>
    {
        while true {
            let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return .success(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .success(nil)
            default: return .failure(SysError(errno))
            }
        }
    }

    /// TCP keepalive tuned so a dead peer is noticed within `deadPeerMs` (see docs/WIRE.md).
    static func enableKeepalive(_ fd: Int32, deadPeerMs: Int32) {
        let idle = max(1, deadPeerMs / 2000), interval = max(1, deadPeerMs / 6000)
        setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
        setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, idle)
        setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, interval)
        setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, 3)
        setOption(fd, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, deadPeerMs)
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }
}
