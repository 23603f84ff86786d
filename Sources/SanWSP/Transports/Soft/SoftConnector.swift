import Glibc
import Synchronization
import WinSock

/// An outgoing soft connect: kernel connect to (remote IP, map(P)), send HELLO, wait for ACCEPT
/// or REJECT, all within the connect timeout. Runs on the loop thread after `start`.
final class SoftConnector: PendingConnect {
    private let transport: SoftTransport
    private let socket: KernelSocket
    private let hello: [UInt8]

    private enum Phase { case connecting, awaitingReply, finished }
    private struct State {
        var phase = Phase.connecting
        var events: ConnectEvents?
        var connectionEvents: ConnectionEvents?
        var registration: RegistrationID?
        var timer: TimerID?
        var reader = FrameAssembler(limit: SoftWire.headerSize + SoftWire.acceptMaximum)
    }
    private let state = Mutex(State())

    private init(transport: SoftTransport, socket: KernelSocket, hello: [UInt8]) {
        self.transport = transport
        self.socket = socket
        self.hello = hello
    }

    /// Starts the kernel connect. Failures known at once are thrown (the switch gets them from
    /// WSPConnect directly); the rest arrive through `events`.
    static func start(transport: SoftTransport, local: SocketAddress, remote: SocketAddress,
                      callerData: [UInt8], events: ConnectEvents,
                      connectionEvents: ConnectionEvents) throws(WSAError) -> SoftConnector
    {
        let fd: Int32
        switch Syscall.tcpSocket(family: remote.family) {
        case .success(let f): fd = f
        case .failure(let e): throw WSAError(SoftTransport.connectError(e.errno))
        }
        let socket = KernelSocket(fd: fd)
        // Leave from the switch's local address, so the peer sees the right source host.
        if case .failure(let e) = Syscall.bind(fd, local.host) {
            throw WSAError(e.errno == EADDRNOTAVAIL ? WSAEADDRNOTAVAIL : WSAENOBUFS)
        }
        let kernelRemote = remote.withPort(transport.config.kernelPort(for: remote.port))
        if case .failure(let e) = Syscall.connect(fd, kernelRemote) {
            throw WSAError(SoftTransport.connectError(e.errno))
        }
        let hello = SoftWire.encodeHello(
            .init(targetPort: remote.port, caller: local, callerData: callerData))
        let connector = SoftConnector(transport: transport, socket: socket, hello: hello)
        connector.state.withLock {
            $0.events = events
            $0.connectionEvents = connectionEvents
        }
        let loop = transport.loop
        let handler: EventLoop.Handler = { [weak connector] ready in connector?.handle(ready) }
        let timeout = UInt64(transport.config.connectTimeoutMs) * 1_000_000
        // Hold the state lock while registering so the handler sees the registration.
        try connector.state.withLock { (s: inout State) throws(WSAError) in
            do {
                s.registration = try loop.register(fd: fd, events: EpollEvent.output, handler: handler)
            } catch {
                throw .noBuffers
            }
            s.timer = loop.schedule(after: timeout) { [weak connector] in
                connector?.fail(WSAETIMEDOUT)
            }
        }
        return connector
    }

    private func handle(_ ready: UInt32) {
        let phase = state.withLock { $0.phase }
        switch phase {
        case .connecting:
            let error = Syscall.pendingError(socket.fd)
            guard error == 0 else { return fail(SoftTransport.connectError(error)) }
            if let e = socket.sendAll(hello) { return fail(SoftTransport.connectError(e.errno)) }
            let id = state.withLock { s -> RegistrationID? in
                s.phase = .awaitingReply
                return s.registration
            }
            if let id { try? transport.loop.modify(id, events: EpollEvent.input) }
        case .awaitingReply:
            var reader = state.withLock { $0.reader }
            let outcome = reader.read(from: socket.fd)
            state.withLock { $0.reader = reader }
            switch outcome {
            case .incomplete:
                return
            case .frame(let header, let payload):
                if header.type == SoftWire.FrameType.accept.rawValue,
                   let calleeData = SoftWire.decodeAccept(payload) {
                    succeed(calleeData)
                } else if header.type == SoftWire.FrameType.reject.rawValue,
                          let reason = SoftWire.decodeReason(payload) {
                    fail(SoftTransport.rejectError(reason))
                } else {
                    fail(WSAETIMEDOUT)   // not a provider speaking: let the switch use TCP
                }
            case .endOfStream, .malformed:
                fail(WSAETIMEDOUT)
            case .failed(let e):
                fail(SoftTransport.connectError(e.errno))
            }
        case .finished:
            return
        }
    }

    /// Ends the attempt; returns the callbacks to notify (nil if it had already ended).
    private func finish() -> (ConnectEvents, ConnectionEvents)? {
        let ended = state.withLock { s -> (ConnectEvents?, ConnectionEvents?, RegistrationID?, TimerID?)? in
            guard s.phase != .finished else { return nil }
            s.phase = .finished
            defer { s.events = nil; s.connectionEvents = nil; s.registration = nil; s.timer = nil }
            return (s.events, s.connectionEvents, s.registration, s.timer)
        }
        guard let (events, connectionEvents, registration, timer) = ended else { return nil }
        let loop = transport.loop
        if let registration { loop.unregister(registration) }
        if let timer { loop.cancel(timer) }
        guard let events, let connectionEvents else { return nil }
        return (events, connectionEvents)
    }

    private func fail(_ error: Int32) {
        let callbacks = finish()
        socket.close()
        callbacks?.0.connectFailed(error: error)
    }

    private func succeed(_ calleeData: [UInt8]) {
        guard let (events, connectionEvents) = finish() else { return }
        Syscall.enableKeepalive(socket.fd, deadPeerMs: transport.config.deadPeerMs)
        let connection = SoftConnection(socket: socket, loop: transport.loop, events: connectionEvents)
        connection.start()
        events.connected(connection, calleeData: calleeData)
    }

    /// WSPCloseSocket during the connect: stop at once, quietly, on the loop thread.
    func abort() {
        state.withLock { s in
            s.events = nil
            s.connectionEvents = nil
        }
        let ran = transport.loop.execute { [self] in
            _ = finish()
            socket.close()
        }
        if !ran { socket.close() }
    }
}
