import Glibc
import WinSock

/// The transports of a started provider and which one carries which address.
///
/// `SANWSP_TRANSPORT` chooses: `auto` (default) uses verbs for every local address an RDMA
/// device serves (rdma_cm can bind it) and soft for the rest; `soft` uses soft only; `verbs`
/// uses verbs only and serves only RDMA addresses. `SANWSP_VERBS=0` disables verbs (same as
/// `soft`). Without rdma-core or an RDMA device, auto is soft, silently.
final class Transports: Sendable {
    enum Mode: String, Sendable { case auto, soft, verbs }

    let loop: EventLoop
    let soft: SoftTransport
    let verbs: VerbsTransport?
    let mode: Mode

    init(config: SoftConfig) throws(WSAError) {
        do { loop = try EventLoop(name: "sanwsp-engine") } catch { throw WSAError(WSASYSNOTREADY) }
        soft = SoftTransport(loop: loop, config: config)
        var mode = Mode.auto
        if let raw = getenv("SANWSP_TRANSPORT"), let m = Mode(rawValue: String(cString: raw)) { mode = m }
        if let raw = getenv("SANWSP_VERBS"), String(cString: raw) == "0" { mode = .soft }
        self.mode = mode
        verbs = mode == .soft ? nil : VerbsTransport.start(loop: loop, config: config)
    }

    func shutdown() {
        verbs?.shutdown()
        loop.shutdown()
    }

    /// Whether the transports together serve `address` (host part).
    func serves(_ address: SocketAddress) -> Bool {
        switch mode {
        case .soft: return true
        case .auto: return true
        case .verbs: return verbs?.serves(address) ?? false
        }
    }

    /// The transport for a connection from `local`.
    func transport(for local: SocketAddress) throws(WSAError) -> Transport {
        if let verbs, !local.isWildcard, verbs.serves(local) { return verbs }
        if mode == .verbs {
            if local.isWildcard, let verbs { return verbs }
            throw .addressNotAvailable
        }
        return soft
    }

    /// Listeners for `local`: a wildcard listens on every transport.
    func listenTransports(for local: SocketAddress) throws(WSAError) -> [Transport] {
        if local.isWildcard {
            var all: [Transport] = mode == .verbs ? [] : [soft]
            if let verbs, verbs.hasDevices { all.append(verbs) }
            if all.isEmpty { throw .addressNotAvailable }
            return all
        }
        return [try transport(for: local)]
    }
}
