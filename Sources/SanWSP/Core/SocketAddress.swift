import Glibc
import WinSock

/// An IPv4 or IPv6 socket address as the switch hands it over (network byte order inside).
struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    enum Storage: Hashable, Sendable {
        case v4(address: UInt32, port: UInt16)                 // both network order
        case v6(address: [UInt8], port: UInt16, scope: UInt32)  // address: 16 bytes
    }
    var storage: Storage

    var family: Int32 {
        switch storage { case .v4: AF_INET; case .v6: AF_INET6 }
    }

    static func length(of family: Int32) -> Int {
        family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
    }
    var length: Int { Self.length(of: family) }

    var port: UInt16 {
        switch storage {
        case .v4(_, let p), .v6(_, let p, _): UInt16(bigEndian: p)
        }
    }

    func withPort(_ port: UInt16) -> SocketAddress {
        switch storage {
        case .v4(let a, _): SocketAddress(storage: .v4(address: a, port: port.bigEndian))
        case .v6(let a, _, let s):
            SocketAddress(storage: .v6(address: a, port: port.bigEndian, scope: s))
        }
    }

    var isWildcard: Bool {
        switch storage {
        case .v4(let a, _): a == 0
        case .v6(let a, _, _): a.allSatisfy { $0 == 0 }
        }
    }

    /// The same address without its port (for served-address checks and bind conflicts).
    var host: SocketAddress { withPort(0) }

    /// Reads a caller's sockaddr. The family must be `expectedFamily` and the length enough for
    /// it; anything else is WSAEFAULT, as WSPBind/WSPConnect specify.
    init(reading name: UnsafePointer<sockaddr>?, length: Int32, expectedFamily: Int32)
        throws(WSAError)
    {
        guard let name, length >= 0, Int(length) >= Self.length(of: expectedFamily) else {
            throw .fault
        }
        guard Int32(name.pointee.sa_family) == expectedFamily else { throw .fault }
        if expectedFamily == AF_INET {
            let sin = UnsafeRawPointer(name).loadUnaligned(as: sockaddr_in.self)
            storage = .v4(address: sin.sin_addr.s_addr, port: sin.sin_port)
        } else {
            let sin6 = UnsafeRawPointer(name).loadUnaligned(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            storage = .v6(address: bytes, port: sin6.sin6_port, scope: sin6.sin6_scope_id)
        }
    }

    init(storage: Storage) { self.storage = storage }

    /// From a kernel sockaddr (getifaddrs, accept...). nil for other families.
    init?(kernel sa: UnsafePointer<sockaddr>) {
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in.self)
            storage = .v4(address: sin.sin_addr.s_addr, port: sin.sin_port)
        case AF_INET6:
            let sin6 = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            storage = .v6(address: bytes, port: sin6.sin6_port, scope: sin6.sin6_scope_id)
        default:
            return nil
        }
    }

    /// Writes the address as a platform sockaddr into `buffer` (at least `length` bytes).
    func write(to buffer: UnsafeMutableRawPointer) {
        switch storage {
        case .v4(let a, let p):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = p
            sin.sin_addr.s_addr = a
            buffer.copyMemory(from: &sin, byteCount: MemoryLayout<sockaddr_in>.size)
        case .v6(let a, let p, let s):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = p
            sin6.sin6_scope_id = s
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: a) }
            buffer.copyMemory(from: &sin6, byteCount: MemoryLayout<sockaddr_in6>.size)
        }
    }

    /// Copies the address to a caller's (name, *namelen) pair: WSAEFAULT when either is NULL
    /// or the buffer is too small; *namelen becomes the length written.
    func copyOut(_ name: UnsafeMutablePointer<sockaddr>?, _ namelen: UnsafeMutablePointer<Int32>?)
        throws(WSAError)
    {
        guard let name, let namelen, namelen.pointee >= Int32(length) else { throw .fault }
        write(to: UnsafeMutableRawPointer(name))
        namelen.pointee = Int32(length)
    }

    var description: String {
        var buf = [CChar](repeating: 0, count: 64)
        let text: String
        switch storage {
        case .v4(var a, _):
            _ = inet_ntop(AF_INET, &a, &buf, 64)
            text = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return "\(text):\(port)"
        case .v6(let a, _, _):
            var bytes = a
            _ = inet_ntop(AF_INET6, &bytes, &buf, 64)
            text = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return "[\(text)]:\(port)"
        }
    }
}
