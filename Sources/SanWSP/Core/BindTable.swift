import Synchronization
import WinSock

/// Local (address, port) pairs held by this process's provider sockets.
///
/// The rule is TCP's: two sockets may not share a port on the same address, or on any address
/// of the family when one of them is the wildcard, unless both set SO_REUSEADDR. Port 0 asks for
/// a free port from the ephemeral range.
final class BindTable: Sendable {
    struct Binding: Sendable {
        let owner: UInt64          // socket descriptor
        let address: SocketAddress // with port
        let reuse: Bool
    }
    private let bindings = Mutex<[Binding]>([])
    static let ephemeralPorts: ClosedRange<UInt16> = 49152...65535

    private static func conflicts(_ a: SocketAddress, _ reuse: Bool, with b: Binding) -> Bool {
        guard a.family == b.address.family, a.port == b.address.port else { return false }
        guard a.host == b.address.host || a.isWildcard || b.address.isWildcard else { return false }
        return !(reuse && b.reuse)
    }

    /// Reserves `address` for `owner`; returns the address with its final port.
    func reserve(_ address: SocketAddress, owner: UInt64, reuse: Bool) throws(WSAError)
        -> SocketAddress
    {
        try bindings.withLock { (list: inout [Binding]) throws(WSAError) -> SocketAddress in
            var chosen = address
            if address.port == 0 {
                let span = UInt32(Self.ephemeralPorts.count)
                let start = UInt32.random(in: 0..<span)
                var found: SocketAddress?
                for i in 0..<span {
                    let port = Self.ephemeralPorts.lowerBound + UInt16((start + i) % span)
                    let candidate = address.withPort(port)
                    if !list.contains(where: { Self.conflicts(candidate, false, with: $0) }) {
                        found = candidate
                        break
                    }
                }
                guard let found else { throw .addressInUse }
                chosen = found
            } else if list.contains(where: { Self.conflicts(address, reuse, with: $0) }) {
                throw .addressInUse
            }
            list.append(Binding(owner: owner, address: chosen, reuse: reuse))
            return chosen
        }
    }

    func release(owner: UInt64) {
        bindings.withLock { $0.removeAll { $0.owner == owner } }
    }
}
