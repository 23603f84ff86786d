import Glibc
import Synchronization
import WinSock

/// A provider listener on (address, P): a kernel listener on (address, map(P)) whose accepted
/// connections must first send a valid HELLO (within the handshake timeout) before they become
/// requests for WSPAccept.
final class SoftListener: TransportListener {
    let transport: SoftTransport
    let address: SocketAddress
    private let socket: KernelSocket

    private struct State {
        var events: ListenerEvents?
        var registration: RegistrationID?
        var closed = false
        var handshakes: [ObjectIdentifier: SoftHandshake] = [:]
        var requests: [ObjectIdentifier: SoftRequest] = [:]
    }
    private let state = Mutex(State())

    private init(transport: SoftTransport, address: SocketAddress, socket: KernelSocket,
                 events: ListenerEvents) {
        self.transport = transport
        self.address = address
        self.socket = socket
        state.withLock { $0.events = events }
    }

    static func start(transport: SoftTransport, address: SocketAddress, events: ListenerEvents)
        throws(WSAError) -> SoftListener
    {
        let fd: Int32
        switch Syscall.tcpSocket(family: address.family) {
        case .success(let f): fd = f
        case .failure: throw .noBuffers
        }
        let socket = KernelSocket(fd: fd)
        Syscall.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if address.family == AF_INET6 { Syscall.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        let kernelAddress = address.withPort(transport.config.kernelPort(for: address.port))
        if case .failure(let e) = Syscall.bind(fd, kernelAddress) {
            throw WSAError(e.errno == EADDRINUSE ? WSAEADDRINUSE : WSAENOBUFS)
        }
        guard case .success = Syscall.listen(fd, backlog: 128) else { throw .noBuffers }
        let listener = SoftListener(transport: transport, address: address, socket: socket,
                                    events: events)
        let handler: EventLoop.Handler = { [weak listener] _ in listener?.acceptPending() }
        do {
            let id = try transport.loop.register(fd: fd, events: EpollEvent.input, handler: handler)
            listener.state.withLock { $0.registration = id }
        } catch {
            throw .noBuffers
        }
        return listener
    }

    /// Loop thread: take every queued kernel connection and start its handshake.
    private func acceptPending() {
        while case .success(let fd?) = Syscall.accept(socket.fd) {
            let connection = KernelSocket(fd: fd)
            let admitted = state.withLock { s -> SoftHandshake? in
                guard !s.closed, s.handshakes.count < transport.config.maxPendingHandshakes
                else { return nil }
                let h = SoftHandshake(listener: self, socket: connection)
                s.handshakes[ObjectIdentifier(h)] = h
                return h
            }
            // Over the limit: drop it; the caller sees a reset and may retry or fall back.
            guard let admitted else { connection.close(); continue }
            admitted.start()
        }
    }

    /// Loop thread: a handshake finished (or failed).
    func handshakeDone(_ handshake: SoftHandshake, hello: SoftWire.Hello?) {
        let events = state.withLock { s -> ListenerEvents? in
            s.handshakes[ObjectIdentifier(handshake)] = nil
            return s.closed ? nil : s.events
        }
        guard let hello else { return }
        guard let events else {
            _ = handshake.socket.sendAll(
                SoftWire.encodeReason(.reject, RejectReason.noListener.rawValue))
            handshake.socket.close()
            return
        }
        guard hello.targetPort == address.port,
              let destination = Syscall.localAddress(handshake.socket.fd)
        else {
            _ = handshake.socket.sendAll(
                SoftWire.encodeReason(.reject, RejectReason.noListener.rawValue))
            handshake.socket.close()
            return
        }
        let request = SoftRequest(
            listener: self, socket: handshake.socket, caller: hello.caller,
            destination: destination.withPort(address.port), callerData: hello.callerData)
        state.withLock { $0.requests[ObjectIdentifier(request)] = request }
        if events.requestArrived(request) {
            request.watchForWithdrawal()
        } else {
            request.reject(.backlogFull)
        }
    }

    /// A request left the listener (accepted, rejected or withdrawn).
    func forget(_ request: SoftRequest) {
        state.withLock { $0.requests[ObjectIdentifier(request)] = nil }
    }

    func withdrawn(_ request: SoftRequest) {
        let events = state.withLock { $0.events }
        events?.requestWithdrawn(request)
    }

    func close() {
        let (registration, handshakes, requests) = state.withLock {
            s -> (RegistrationID?, [SoftHandshake], [SoftRequest]) in
            guard !s.closed else { return (nil, [], []) }
            s.closed = true
            s.events = nil
            defer { s.handshakes = [:]; s.requests = [:]; s.registration = nil }
            return (s.registration, Array(s.handshakes.values), Array(s.requests.values))
        }
        let socket = self.socket
        let loop = transport.loop
        let ran = loop.execute {
            if let registration { loop.unregister(registration) }
            socket.close()
            handshakes.forEach { $0.abort() }
            requests.forEach { $0.reject(.noListener) }
        }
        if !ran {
            socket.close()
            requests.forEach { $0.reject(.noListener) }
        }
    }
}

/// Reads one HELLO from a freshly accepted kernel connection, bounded in size and time.
final class SoftHandshake: Sendable {
    let socket: KernelSocket
    private let listener: SoftListener
    private struct State {
        var reader = FrameAssembler(limit: SoftWire.headerSize + SoftWire.helloMaximum)
        var registration: RegistrationID?
        var timer: TimerID?
        var done = false
    }
    private let state = Mutex(State())

    init(listener: SoftListener, socket: KernelSocket) {
        self.listener = listener
        self.socket = socket
    }

    /// Loop thread.
    func start() {
        let loop = listener.transport.loop
        let handler: EventLoop.Handler = { [weak self] _ in self?.readable() }
        guard let id = try? loop.register(fd: socket.fd, events: EpollEvent.input, handler: handler)
        else { return finish(nil) }
        let timeout = UInt64(listener.transport.config.handshakeTimeoutMs) * 1_000_000
        let timer = loop.schedule(after: timeout) { [weak self] in self?.finish(nil) }
        state.withLock { $0.registration = id; $0.timer = timer }
    }

    private func readable() {
        var reader = state.withLock { $0.reader }
        let outcome = reader.read(from: socket.fd)
        state.withLock { $0.reader = reader }
        switch outcome {
        case .incomplete: return
        case .frame(let header, let payload) where header.type == SoftWire.FrameType.hello.rawValue:
            do {
                finish(try SoftWire.decodeHello(payload))
            } catch .badVersion {
                _ = socket.sendAll(SoftWire.encodeReason(.reject, RejectReason.badVersion.rawValue))
                finish(nil)
            } catch {
                finish(nil)
            }
        default:
            finish(nil)   // garbage, end of stream or error: drop the connection
        }
    }

    /// Loop thread: stop reading; with a HELLO, hand the socket to the listener.
    private func finish(_ hello: SoftWire.Hello?) {
        let (registration, timer) = state.withLock { s -> (RegistrationID?, TimerID?) in
            guard !s.done else { return (nil, nil) }
            s.done = true
            return (s.registration, s.timer)
        }
        let loop = listener.transport.loop
        if let registration { loop.unregister(registration) }
        if let timer { loop.cancel(timer) }
        if hello == nil { socket.close() }
        listener.handshakeDone(self, hello: hello)
    }

    func abort() { finish(nil) }
}

/// A caller waiting in the listener's queue. Its socket stays watched so a caller that gives up
/// is noticed (and removed from the queue).
final class SoftRequest: IncomingRequest {
    let kind = TransportKind.soft
    let caller: SocketAddress
    let destination: SocketAddress
    let callerData: [UInt8]
    let socket: KernelSocket
    private let listener: SoftListener

    private enum Phase { case waiting, accepted, rejected, withdrawn }
    private struct State {
        var phase = Phase.waiting
        var registration: RegistrationID?
    }
    private let state = Mutex(State())

    init(listener: SoftListener, socket: KernelSocket, caller: SocketAddress,
         destination: SocketAddress, callerData: [UInt8]) {
        self.listener = listener
        self.socket = socket
        self.caller = caller
        self.destination = destination
        self.callerData = callerData
    }

    /// Loop thread.
    func watchForWithdrawal() {
        let loop = listener.transport.loop
        let handler: EventLoop.Handler = { [weak self] _ in self?.callerSpoke() }
        guard let id = try? loop.register(
            fd: socket.fd, events: EpollEvent.input | EpollEvent.readHangup, handler: handler)
        else { return callerSpoke() }
        let keep = state.withLock { s -> Bool in
            guard s.phase == .waiting else { return false }
            s.registration = id
            return true
        }
        if !keep { loop.unregister(id) }
    }

    /// The caller must stay silent until answered: data, end of stream or an error all mean it
    /// gave up (or misbehaves).
    private func callerSpoke() {
        let registration = state.withLock { s -> RegistrationID?? in
            guard s.phase == .waiting else { return nil }
            s.phase = .withdrawn
            defer { s.registration = nil }
            return .some(s.registration)
        }
        guard let registration else { return }
        if let registration { listener.transport.loop.unregister(registration) }
        socket.close()
        listener.forget(self)
        listener.withdrawn(self)
    }

    private func leaveQueue(_ phase: Phase) -> RegistrationID?? {
        state.withLock { s -> RegistrationID?? in
            guard s.phase == .waiting else { return nil }
            s.phase = phase
            defer { s.registration = nil }
            return .some(s.registration)
        }
    }

    func accept(calleeData: [UInt8], events: ConnectionEvents) throws(WSAError)
        -> TransportConnection
    {
        guard let registration = leaveQueue(.accepted) else { throw WSAError(WSAECONNRESET) }
        listener.forget(self)
        let loop = listener.transport.loop
        if socket.sendAll(SoftWire.encodeAccept(calleeData: calleeData)) != nil {
            loop.execute { [socket] in
                if let registration { loop.unregister(registration) }
                socket.close()
            }
            throw WSAError(WSAECONNRESET)
        }
        let connection = SoftConnection(socket: socket, loop: loop, events: events)
        Syscall.enableKeepalive(socket.fd, deadPeerMs: listener.transport.config.deadPeerMs)
        loop.execute {
            if let registration { loop.unregister(registration) }
            connection.start()
        }
        return connection
    }

    func reject(_ reason: RejectReason) {
        guard let registration = leaveQueue(.rejected) else { return }
        listener.forget(self)
        let loop = listener.transport.loop
        let socket = self.socket
        _ = socket.sendAll(SoftWire.encodeReason(.reject, reason.rawValue))
        if !loop.execute({
            if let registration { loop.unregister(registration) }
            socket.close()
        }) {
            socket.close()
        }
    }
}
