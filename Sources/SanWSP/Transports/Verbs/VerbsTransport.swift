import CSystem
import CVerbs
import Glibc
import Synchronization
import WinSock

/// One rdma_cm event, copied out before it is acknowledged.
struct CMEvent: Sendable {
    var type: rdma_cm_event_type
    var status: Int32
    var id: UInt           // rdma_cm_id bits
    var listenId: UInt
    var privateData: [UInt8]
}

/// Receives the rdma_cm events of one cm_id (on the progress-engine thread).
protocol CMEventTarget: AnyObject, Sendable {
    func handle(_ event: CMEvent)
}

/// A cm_id, by address: rdma_cm ids are thread-safe objects owned by exactly one sanwsp object.
struct CMId: @unchecked Sendable, Hashable {
    let pointer: UnsafeMutablePointer<rdma_cm_id>
    var bits: UInt { UInt(bitPattern: pointer) }
}

/// The verbs transport: librdmacm for addressing and connections (one event channel, driven by
/// the progress engine), libibverbs for protection domains, completion queues, RC queue pairs
/// and memory registration.
final class VerbsTransport: Transport, @unchecked Sendable {
    // @unchecked: `channel` is created once and only used through thread-safe librdmacm calls.
    let kind = TransportKind.verbs
    let library: VerbsLibrary
    let loop: EventLoop
    let config: SoftConfig
    private let channel: UnsafeMutablePointer<rdma_event_channel>
    private let registration = Mutex<RegistrationID?>(nil)
    private let targets = Mutex<[UInt: CMEventTarget]>([:])
    private let devices = Mutex<[UInt: VerbsDevice]>([:])
    private let servedCache = Mutex<[SocketAddress: (served: Bool, checked: UInt64)]>([:])

    /// The transport, or nil (quietly) without rdma-core, without a device, or when the event
    /// channel cannot be made.
    static func start(loop: EventLoop, config: SoftConfig) -> VerbsTransport? {
        guard case .success(let library) = VerbsLibrary.current, library.deviceCount() > 0,
              let channel = library.createEventChannel() else { return nil }
        let transport = VerbsTransport(library: library, loop: loop, config: config, channel: channel)
        let fd = channel.pointee.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let handler: EventLoop.Handler = { [weak transport] _ in transport?.drainEvents() }
        guard let id = try? loop.register(fd: fd, events: EpollEvent.input, handler: handler) else {
            library.destroyEventChannel(channel)
            return nil
        }
        transport.registration.withLock { $0 = id }
        return transport
    }

    private init(library: VerbsLibrary, loop: EventLoop, config: SoftConfig,
                 channel: UnsafeMutablePointer<rdma_event_channel>) {
        self.library = library
        self.loop = loop
        self.config = config
        self.channel = channel
    }

    var hasDevices: Bool { library.deviceCount() > 0 }

    /// Stops after the work already queued (closing sockets destroy their ids there).
    func shutdown() {
        let id = registration.withLock { r -> RegistrationID? in defer { r = nil }; return r }
        let loop = self.loop, library = self.library, channel = UInt(bitPattern: self.channel)
        let destroy: @Sendable () -> Void = { [self] in
            if let id { loop.unregister(id) }
            // Ids still routed here are accepted connections closed before their handshake
            // ended (VerbsConnection.close); nothing waits for them any more.
            let left = targets.withLock { t -> [UInt] in defer { t = [:] }; return Array(t.keys) }
            for bits in left { _ = library.destroyId(UnsafeMutablePointer(bitPattern: bits)) }
            library.destroyEventChannel(UnsafeMutablePointer(bitPattern: channel))
        }
        if !loop.execute(destroy) { destroy() }
    }

    // MARK: ids and events

    func createId() throws(WSAError) -> CMId {
        var id: UnsafeMutablePointer<rdma_cm_id>?
        guard library.createId(channel, &id, nil, RDMA_PS_TCP) == 0, let id else { throw .noBuffers }
        return CMId(pointer: id)
    }

    func route(_ id: CMId, to target: CMEventTarget?) {
        targets.withLock { $0[id.bits] = target }
    }

    /// Forgets and destroys an id; call on the loop thread (its events are all acknowledged).
    func destroy(_ id: CMId) {
        route(id, to: nil)
        _ = library.destroyId(id.pointer)
    }

    /// SANWSP_TRACE_CM set: every rdma_cm event is logged to stderr (README, configuration).
    static let traceCM = getenv("SANWSP_TRACE_CM") != nil

    static func trace(_ line: @autoclosure () -> String) {
        guard traceCM else { return }
        var text = "sanwsp[\(getpid())]: " + line() + "\n"
        text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    private func drainEvents() {
        while true {
            var raw: UnsafeMutablePointer<rdma_cm_event>?
            guard library.getEvent(channel, &raw) == 0, let e = raw else { return }
            // librdmacm reports a failed step of its own (e.g. the QP transitions after a
            // connect response) as status -1 with errno set.
            let eventErrno = errno
            let conn = e.pointee.param.conn
            var data: [UInt8] = []
            if let p = conn.private_data, conn.private_data_len > 0 {
                data = Array(UnsafeRawBufferPointer(start: p, count: Int(conn.private_data_len)))
            }
            let event = CMEvent(
                type: e.pointee.event, status: e.pointee.status,
                id: UInt(bitPattern: e.pointee.id), listenId: UInt(bitPattern: e.pointee.listen_id),
                privateData: data)
            _ = library.ackEvent(e)
            let key = event.type == RDMA_CM_EVENT_CONNECT_REQUEST ? event.listenId : event.id
            let target = targets.withLock { $0[key] }
            // Diagnostics for connection-manager trouble that only shows on some fabrics.
            Self.trace("cm event \(event.type.rawValue) status \(event.status)"
                       + (event.status == -1 ? " errno \(eventErrno)" : "")
                       + " id 0x\(String(event.id, radix: 16)) \(target == nil ? "unrouted" : "routed")")
            target?.handle(event)
            if target == nil, event.type == RDMA_CM_EVENT_CONNECT_REQUEST,
               let id = UnsafeMutablePointer<rdma_cm_id>(bitPattern: event.id) {
                _ = library.reject(id, nil, 0)
                _ = library.destroyId(id)
            }
        }
    }

    // MARK: devices and addresses

    func device(for context: UnsafeMutablePointer<ibv_context>) throws(WSAError) -> VerbsDevice {
        try devices.withLock { (d: inout [UInt: VerbsDevice]) throws(WSAError) -> VerbsDevice in
            if let existing = d[UInt(bitPattern: context)] { return existing }
            guard let pd = library.allocPd(context) else { throw .noBuffers }
            let device = VerbsDevice(context: context, pd: pd)
            d[UInt(bitPattern: context)] = device
            return device
        }
    }

    /// True when an RDMA device serves `address` (rdma_cm can bind to it). Cached for 10 s.
    func serves(_ address: SocketAddress) -> Bool {
        let host = address.host
        let now = Syscall.monotonicNanoseconds()
        if let cached = servedCache.withLock({ $0[host] }), now - cached.checked < 10_000_000_000 {
            return cached.served
        }
        var served = false
        if let id = try? createId() {
            var storage = sockaddr_storage()
            served = withUnsafeMutableBytes(of: &storage) { raw -> Bool in
                host.write(to: raw.baseAddress!)
                return library.bindAddr(id.pointer, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)) == 0
            } && id.pointer.pointee.verbs != nil
            _ = library.destroyId(id.pointer)
        }
        servedCache.withLock { $0[host] = (served, now) }
        return served
    }

    static func address(_ storage: sockaddr_storage) -> SocketAddress? {
        var s = storage
        return withUnsafePointer(to: &s) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress(kernel: $0) }
        }
    }

    // MARK: Transport

    func listen(on address: SocketAddress, events: ListenerEvents) throws(WSAError)
        -> TransportListener
    {
        try VerbsListener.start(transport: self, address: address, events: events)
    }

    func connect(from local: SocketAddress, to remote: SocketAddress, callerData: [UInt8],
                 events: ConnectEvents, connectionEvents: ConnectionEvents) throws(WSAError)
        -> PendingConnect
    {
        try VerbsConnector.start(transport: self, local: local, remote: remote,
                                 callerData: callerData, events: events,
                                 connectionEvents: connectionEvents)
    }

    /// rdma_cm's answers for an outgoing connect, in WSD terms (the fallback rule of
    /// docs/WIRE.md holds: only a sanwsp peer's REJECT is final).
    static func connectError(_ event: CMEvent) -> Int32 {
        switch event.type {
        case RDMA_CM_EVENT_REJECTED:
            if let reason = VerbsPrivateData.parseReject(event.privateData) {
                return SoftTransport.rejectError(reason.rawValue)
            }
            return WSAEADDRNOTAVAIL   // the CM answered, but no sanwsp listener is there
        case RDMA_CM_EVENT_ADDR_ERROR, RDMA_CM_EVENT_ROUTE_ERROR: return WSAENETUNREACH
        case RDMA_CM_EVENT_UNREACHABLE, RDMA_CM_EVENT_CONNECT_ERROR: return WSAETIMEDOUT
        case RDMA_CM_EVENT_DISCONNECTED, RDMA_CM_EVENT_DEVICE_REMOVAL: return WSAECONNRESET
        default: return WSAETIMEDOUT
        }
    }
}

/// One RDMA device's protection domain, shared by the connections on it.
final class VerbsDevice: @unchecked Sendable {
    // @unchecked: created once; the device objects are thread-safe.
    let context: UnsafeMutablePointer<ibv_context>
    let pd: UnsafeMutablePointer<ibv_pd>
    init(context: UnsafeMutablePointer<ibv_context>, pd: UnsafeMutablePointer<ibv_pd>) {
        self.context = context
        self.pd = pd
    }
}
