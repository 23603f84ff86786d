import Glibc
import WinSock

/// An address prefix from SANWSP_ADDRESSES ("10.1.0.0/16", "::1/128", "127.0.0.1").
struct AddressPrefix: Sendable, Equatable {
    let family: Int32
    let bytes: [UInt8]
    let bits: Int

    init?(parsing text: Substring) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0]).trimmingSpaces
        let family: Int32 = host.contains(":") ? AF_INET6 : AF_INET
        var buffer = [UInt8](repeating: 0, count: 16)
        guard inet_pton(family, host, &buffer) == 1 else { return nil }
        let width = family == AF_INET ? 32 : 128
        var bits = width
        if parts.count == 2 {
            guard let b = Int(String(parts[1]).trimmingSpaces), b >= 0, b <= width else {
                return nil
            }
            bits = b
        }
        self.family = family
        self.bytes = Array(buffer.prefix(width / 8))
        self.bits = bits
    }

    func contains(_ address: SocketAddress) -> Bool {
        guard address.family == family else { return false }
        let candidate: [UInt8]
        switch address.storage {
        case .v4(let a, _): candidate = withUnsafeBytes(of: a) { Array($0) }
        case .v6(let a, _, _): candidate = a
        }
        var remaining = bits
        for i in 0..<bytes.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if candidate[i] & mask != bytes[i] & mask { return false }
            remaining -= 8
        }
        return true
    }
}

extension String {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

/// Which local addresses the provider serves.
///
/// Default: every address of every interface that is up, IPv4 and IPv6, loopback included,
/// except IPv6 link-local addresses (they need a scope the switch cannot express).
/// `SANWSP_ADDRESSES` (comma-separated prefixes) restricts that set; it is read when the
/// provider starts. The interface list itself is read on every query, so addresses that come
/// and go are seen at once.
struct ServedAddresses: Sendable {
    let filter: [AddressPrefix]?

    static let environmentVariable = "SANWSP_ADDRESSES"

    static func fromEnvironment() -> ServedAddresses {
        guard let raw = getenv(environmentVariable) else { return ServedAddresses(filter: nil) }
        let text = String(cString: raw)
        // An unparsable entry serves nothing rather than everything: fail closed.
        let prefixes = text.split(separator: ",").map { AddressPrefix(parsing: $0) }
        return ServedAddresses(filter: prefixes.compactMap { $0 })
    }

    func allows(_ address: SocketAddress) -> Bool {
        guard let filter else { return true }
        return filter.contains { $0.contains(address) }
    }

    /// Served host addresses (port 0) of `family`, in interface order, without duplicates.
    func current(family: Int32) -> [SocketAddress] {
        var result: [SocketAddress] = []
        for address in Syscall.interfaceAddresses() where address.family == family {
            if case .v6(let bytes, _, _) = address.storage, bytes[0] == 0xFE,
               bytes[1] & 0xC0 == 0x80 { continue }   // link-local
            let host = address.host
            if allows(host) && !result.contains(host) { result.append(host) }
        }
        return result
    }

    func serves(_ address: SocketAddress) -> Bool {
        current(family: address.family).contains(address.host)
    }
}
