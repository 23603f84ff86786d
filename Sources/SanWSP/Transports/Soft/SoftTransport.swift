import Glibc
import WinSock

/// Settings of the soft transport (docs/WIRE.md, "Configuration"), read at provider startup.
struct SoftConfig: Sendable {
    /// Application port P is served by a kernel listener on port map(P) (see `kernelPort`).
    var portOffset: UInt16 = 10000
    var connectTimeoutMs: Int32 = 5000
    var handshakeTimeoutMs: Int32 = 5000
    /// A silent peer is declared dead after this long (TCP keepalive + TCP_USER_TIMEOUT).
    var deadPeerMs: Int32 = 10000
    /// Connections accepted by a kernel listener that have not yet sent their HELLO.
    var maxPendingHandshakes = 64

    static func fromEnvironment() -> SoftConfig {
        var c = SoftConfig()
        func number(_ name: String) -> Int? {
            guard let raw = getenv(name) else { return nil }
            return Int(String(cString: raw))
        }
        if let v = number("SANWSP_SOFT_PORT_OFFSET"), v > 0, v < 65535 { c.portOffset = UInt16(v) }
        if let v = number("SANWSP_CONNECT_TIMEOUT_MS"), v > 0, v <= Int(Int32.max) { c.connectTimeoutMs = Int32(v) }
        if let v = number("SANWSP_HANDSHAKE_TIMEOUT_MS"), v > 0, v <= Int(Int32.max) { c.handshakeTimeoutMs = Int32(v) }
        if let v = number("SANWSP_DEAD_PEER_MS"), v >= 1000, v <= Int(Int32.max) { c.deadPeerMs = Int32(v) }
        return c
    }

    /// The kernel TCP port that carries SAN connections for application port `port`: a
    /// bijection on 1...65535, so the application's own TCP port stays free.
    func kernelPort(for port: UInt16) -> UInt16 {
        // (P - 1 + offset) mod 65535 + 1, written so that no value of P can underflow.
        UInt16((UInt32(port) + 65534 + UInt32(portOffset)) % 65535 + 1)
    }
}

/// The embedded default transport: SAN semantics over kernel TCP between providers, driven by
/// one progress engine (epoll) for all connections.
final class SoftTransport: Transport {
    let kind = TransportKind.soft
    let loop: EventLoop
    let config: SoftConfig

    init(loop: EventLoop, config: SoftConfig) {
        self.loop = loop
        self.config = config
    }

    func listen(on address: SocketAddress, events: ListenerEvents) throws(WSAError)
        -> TransportListener
    {
        try SoftListener.start(transport: self, address: address, events: events)
    }

    func connect(from local: SocketAddress, to remote: SocketAddress, callerData: [UInt8],
                 events: ConnectEvents, connectionEvents: ConnectionEvents) throws(WSAError)
        -> PendingConnect
    {
        try SoftConnector.start(
            transport: self, local: local, remote: remote, callerData: callerData,
            events: events, connectionEvents: connectionEvents)
    }

    /// What a failed kernel connect means for the switch. None of these is final: the peer
    /// host may still take a TCP connection, so the switch must be free to fall back
    /// (ECONNREFUSED on the mapped port means no provider listens there for that port).
    static func connectError(_ errno: Int32) -> Int32 {
        switch errno {
        case ECONNREFUSED: WSAEADDRNOTAVAIL
        case ETIMEDOUT: WSAETIMEDOUT
        case ENETUNREACH, EHOSTUNREACH, ENETDOWN, EADDRNOTAVAIL: WSAENETUNREACH
        case ENOBUFS, ENOMEM, EMFILE, ENFILE: WSAENOBUFS
        default: WSAETIMEDOUT
        }
    }

    /// The final codes a provider's answer carries.
    static func rejectError(_ reason: UInt32) -> Int32 {
        switch RejectReason(rawValue: reason) {
        case .refused?, .backlogFull?: WSAECONNREFUSED
        case .noListener?: WSAECONNRESET
        case .badVersion?, nil: WSAEADDRNOTAVAIL
        }
    }

    /// An established connection's loss.
    static func lossError(_ errno: Int32) -> Int32 {
        switch errno {
        case ETIMEDOUT: WSAETIMEDOUT
        case ECONNRESET, EPIPE: WSAECONNRESET
        default: WSAECONNABORTED
        }
    }
}
