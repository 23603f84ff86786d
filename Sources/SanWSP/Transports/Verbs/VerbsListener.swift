import CVerbs
import Glibc
import Synchronization
import WinSock

/// A provider listener on (address, P) over rdma_cm: a listening id bound to (address, map(P)).
final class VerbsListener: TransportListener, CMEventTarget {
    let transport: VerbsTransport
    let address: SocketAddress
    private let id: CMId
    private struct State {
        var events: ListenerEvents?
        var requests: [UInt: VerbsRequest] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    private init(transport: VerbsTransport, address: SocketAddress, id: CMId, events: ListenerEvents) {
        self.transport = transport
        self.address = address
        self.id = id
        state.withLock { $0.events = events }
    }

    static func start(transport: VerbsTransport, address: SocketAddress, events: ListenerEvents)
        throws(WSAError) -> VerbsListener
    {
        let id = try transport.createId()
        var storage = sockaddr_storage()
        let bound = withUnsafeMutableBytes(of: &storage) { raw -> Int32 in
            address.withPort(transport.config.kernelPort(for: address.port)).write(to: raw.baseAddress!)
            return transport.library.bindAddr(id.pointer, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self))
        }
        guard bound == 0 else {
            let e = errno
            _ = transport.library.destroyId(id.pointer)
            throw WSAError(e == EADDRINUSE ? WSAEADDRINUSE : WSAEADDRNOTAVAIL)
        }
        guard transport.library.listen(id.pointer, 128) == 0 else {
            _ = transport.library.destroyId(id.pointer)
            throw .noBuffers
        }
        let listener = VerbsListener(transport: transport, address: address, id: id, events: events)
        transport.route(id, to: listener)
        return listener
    }

    func handle(_ event: CMEvent) {
        guard event.type == RDMA_CM_EVENT_CONNECT_REQUEST,
              let newId = UnsafeMutablePointer<rdma_cm_id>(bitPattern: event.id) else { return }
        let cmId = CMId(pointer: newId)
        let library = transport.library
        guard let (port, data) = VerbsPrivateData.parseRequest(event.privateData),
              let peer = VerbsTransport.address(newId.pointee.route.addr.dst_storage),
              let local = VerbsTransport.address(newId.pointee.route.addr.src_storage)
        else {
            var reason = VerbsPrivateData.reject(.badVersion)
            _ = reason.withUnsafeMutableBytes { library.reject(newId, $0.baseAddress, UInt8($0.count)) }
            _ = library.destroyId(newId)
            return
        }
        let request = VerbsRequest(
            listener: self, id: cmId, caller: peer.withPort(port),
            destination: local.withPort(address.port), callerData: data)
        let events = state.withLock { s -> ListenerEvents? in
            guard !s.closed else { return nil }
            s.requests[cmId.bits] = request
            return s.events
        }
        transport.route(cmId, to: request)
        guard let events else { return request.reject(.noListener) }
        if !events.requestArrived(request) { request.reject(.backlogFull) }
    }

    func forget(_ request: VerbsRequest) {
        state.withLock { $0.requests[request.id.bits] = nil }
    }

    func withdrawn(_ request: VerbsRequest) {
        forget(request)
        state.withLock { $0.events }?.requestWithdrawn(request)
    }

    func close() {
        let requests = state.withLock { s -> [VerbsRequest] in
            guard !s.closed else { return [] }
            s.closed = true
            s.events = nil
            defer { s.requests = [:] }
            return Array(s.requests.values)
        }
        let transport = self.transport, id = self.id
        let ran = transport.loop.execute {
            requests.forEach { $0.reject(.noListener) }
            transport.destroy(id)
        }
        if !ran { requests.forEach { $0.reject(.noListener) } }
    }
}

/// A caller waiting for WSPAccept; its cm_id comes from the CONNECT_REQUEST.
final class VerbsRequest: IncomingRequest, CMEventTarget {
    let kind = TransportKind.verbs
    let caller: SocketAddress
    let destination: SocketAddress
    let callerData: [UInt8]
    let id: CMId
    private let listener: VerbsListener
    private enum Phase { case waiting, accepted, rejected, withdrawn }
    private let phase = Mutex(Phase.waiting)

    init(listener: VerbsListener, id: CMId, caller: SocketAddress, destination: SocketAddress,
         callerData: [UInt8]) {
        self.listener = listener
        self.id = id
        self.caller = caller
        self.destination = destination
        self.callerData = callerData
    }

    private func leave(_ to: Phase) -> Bool {
        phase.withLock { p in
            guard p == .waiting else { return false }
            p = to
            return true
        }
    }

    /// Events before the accept: the caller gave up.
    func handle(_ event: CMEvent) {
        guard leave(.withdrawn) else { return }
        listener.transport.destroy(id)
        listener.withdrawn(self)
    }

    func accept(calleeData: [UInt8], events: ConnectionEvents) throws(WSAError)
        -> TransportConnection
    {
        guard leave(.accepted) else { throw WSAError(WSAECONNRESET) }
        listener.forget(self)
        let transport = listener.transport
        let connection: VerbsConnection
        do {
            connection = try VerbsConnection.create(transport: transport, id: id, events: events)
        } catch {
            var reason = VerbsPrivateData.reject(.backlogFull)
            _ = reason.withUnsafeMutableBytes { transport.library.reject(id.pointer, $0.baseAddress, UInt8($0.count)) }
            let cmId = id
            transport.loop.execute { transport.destroy(cmId) }
            throw error
        }
        transport.route(id, to: connection)
        connection.awaitEstablished(true)
        var data = VerbsPrivateData.reply(data: calleeData)
        let rc = data.withUnsafeMutableBytes { raw -> Int32 in
            var param = VerbsConnection.connectionParameters(raw)
            return transport.library.accept(id.pointer, &param)
        }
        guard rc == 0 else {
            connection.awaitEstablished(false)
            _ = connection.close()
            throw WSAError(WSAECONNRESET)
        }
        return connection
    }

    func reject(_ reason: RejectReason) {
        guard leave(.rejected) else { return }
        listener.forget(self)
        let transport = listener.transport
        var data = VerbsPrivateData.reject(reason)
        let cmId = self.id
        _ = data.withUnsafeMutableBytes { transport.library.reject(cmId.pointer, $0.baseAddress, UInt8($0.count)) }
        if !transport.loop.execute({ transport.destroy(cmId) }) { transport.destroy(cmId) }
    }
}
