import CVerbs
import Glibc
import Synchronization
import WinSock

/// An outgoing verbs connect: resolve address, resolve route, create the queue pair, connect
/// with private data (docs/WIRE.md), all within the connect timeout.
final class VerbsConnector: PendingConnect, CMEventTarget {
    private let transport: VerbsTransport
    private let id: CMId
    private let privateData: [UInt8]

    private struct State {
        var finished = false
        var events: ConnectEvents?
        var connectionEvents: ConnectionEvents?
        var connection: VerbsConnection?
        var timer: TimerID?
    }
    private let state = Mutex(State())

    private init(transport: VerbsTransport, id: CMId, privateData: [UInt8]) {
        self.transport = transport
        self.id = id
        self.privateData = privateData
    }

    static func start(transport: VerbsTransport, local: SocketAddress, remote: SocketAddress,
                      callerData: [UInt8], events: ConnectEvents,
                      connectionEvents: ConnectionEvents) throws(WSAError) -> VerbsConnector
    {
        let id = try transport.createId()
        let connector = VerbsConnector(
            transport: transport, id: id,
            privateData: VerbsPrivateData.request(callerPort: local.port, data: callerData))
        connector.state.withLock { $0.events = events; $0.connectionEvents = connectionEvents }
        transport.route(id, to: connector)
        var source = sockaddr_storage(), destination = sockaddr_storage()
        let kernelRemote = remote.withPort(transport.config.kernelPort(for: remote.port))
        let rc = withUnsafeMutableBytes(of: &source) { src in
            withUnsafeMutableBytes(of: &destination) { dst -> Int32 in
                local.host.write(to: src.baseAddress!)
                kernelRemote.write(to: dst.baseAddress!)
                return transport.library.resolveAddr(
                    id.pointer, src.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                    dst.baseAddress!.assumingMemoryBound(to: sockaddr.self), 2000)
            }
        }
        guard rc == 0 else {
            let e = errno
            transport.loop.execute { transport.destroy(id) }
            throw WSAError(SoftTransport.connectError(e))
        }
        let timeout = UInt64(transport.config.connectTimeoutMs) * 1_000_000
        let timer = transport.loop.schedule(after: timeout) { [weak connector] in
            connector?.fail(WSAETIMEDOUT)
        }
        connector.state.withLock { $0.timer = timer }
        return connector
    }

    func handle(_ event: CMEvent) {
        switch event.type {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
            if transport.library.resolveRoute(id.pointer, 2000) != 0 { fail(WSAENETUNREACH) }
        case RDMA_CM_EVENT_ROUTE_RESOLVED:
            connectQueuePair()
        case RDMA_CM_EVENT_ESTABLISHED:
            succeed(VerbsPrivateData.parseReply(event.privateData) ?? [])
        default:
            fail(VerbsTransport.connectError(event))
        }
    }

    private func connectQueuePair() {
        guard let connectionEvents = state.withLock({ $0.connectionEvents }) else { return }
        do {
            let connection = try VerbsConnection.create(
                transport: transport, id: id, events: connectionEvents)
            state.withLock { $0.connection = connection }
            var data = privateData
            let rc = data.withUnsafeMutableBytes { raw -> Int32 in
                var param = VerbsConnection.connectionParameters(raw)
                return transport.library.connect(id.pointer, &param)
            }
            if rc != 0 {
                let e = errno
                VerbsTransport.trace("rdma_connect failed, errno \(e)")
                fail(SoftTransport.connectError(e))
            }
        } catch {
            fail(error.code)
        }
    }

    /// Ends the attempt; returns what to notify, nil if it had ended already.
    private func finish() -> (ConnectEvents?, VerbsConnection?)? {
        let ended = state.withLock { s -> (ConnectEvents?, VerbsConnection?, TimerID?)? in
            guard !s.finished else { return nil }
            s.finished = true
            defer { s.events = nil; s.connectionEvents = nil; s.connection = nil; s.timer = nil }
            return (s.events, s.connection, s.timer)
        }
        guard let (events, connection, timer) = ended else { return nil }
        if let timer { transport.loop.cancel(timer) }
        return (events, connection)
    }

    private func fail(_ error: Int32) {
        guard let (events, connection) = finish() else { return }
        if let connection {
            _ = connection.close()   // tears down the queue pair and destroys the id
        } else {
            transport.destroy(id)
        }
        events?.connectFailed(error: error)
    }

    private func succeed(_ calleeData: [UInt8]) {
        guard let (events, connection) = finish(), let connection else { return }
        transport.route(id, to: connection)
        if let events { events.connected(connection, calleeData: calleeData) } else { _ = connection.close() }
    }

    /// WSPCloseSocket during the connect: stop quietly on the loop thread.
    func abort() {
        state.withLock { $0.events = nil }
        transport.loop.execute { [self] in
            guard let (_, connection) = finish() else { return }
            if let connection { _ = connection.close() } else { transport.destroy(id) }
        }
    }
}
