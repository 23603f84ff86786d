import Glibc
import Synchronization
import WinSock

/// An established soft connection. Until the data path exists it watches for the peer's
/// DISCONNECT, end of stream and transport errors; anything else from the peer is a protocol
/// violation that drops the connection.
final class SoftConnection: TransportConnection {
    let socket: KernelSocket
    private let loop: EventLoop

    private struct State {
        var events: ConnectionEvents?
        var registration: RegistrationID?
        var finished = false
        var reader = FrameAssembler(limit: SoftWire.headerSize + 4)
    }
    private let state = Mutex(State())

    init(socket: KernelSocket, loop: EventLoop, events: ConnectionEvents) {
        self.socket = socket
        self.loop = loop
        state.withLock { $0.events = events }
    }

    /// Starts watching the socket; call on the loop thread.
    func start() {
        guard !state.withLock({ $0.finished }) else { return }
        let handler: EventLoop.Handler = { [weak self] ready in self?.handle(ready) }
        do {
            let id = try loop.register(
                fd: socket.fd, events: EpollEvent.input | EpollEvent.readHangup, handler: handler)
            // A close() that raced with start() found no registration to remove: do it here.
            let kept = state.withLock { s -> Bool in
                guard !s.finished else { return false }
                s.registration = id
                return true
            }
            if !kept { loop.unregister(id) }
        } catch {
            lose(WSAECONNABORTED)
        }
    }

    private func handle(_ ready: UInt32) {
        var reader = state.withLock { $0.reader }
        let outcome = reader.read(from: socket.fd)
        state.withLock { $0.reader = reader }
        switch outcome {
        case .incomplete: return
        case .endOfStream: lose(WSAECONNRESET)
        case .failed(let e): lose(SoftTransport.lossError(e.errno))
        case .malformed: lose(WSAECONNABORTED)
        case .frame(let header, _):
            lose(header.type == SoftWire.FrameType.disconnect.rawValue
                 ? WSAECONNRESET : WSAECONNABORTED)
        }
    }

    /// The peer or the network ended the connection: report once, then release the socket.
    private func lose(_ error: Int32) {
        let (events, registration) = state.withLock { s -> (ConnectionEvents?, RegistrationID?) in
            guard !s.finished else { return (nil, nil) }
            s.finished = true
            defer { s.events = nil; s.registration = nil }
            return (s.events, s.registration)
        }
        if let registration { loop.unregister(registration) }
        socket.close()
        events?.connectionLost(error: error)
    }

    /// Local close: tell the peer (best effort), then release everything on the loop thread.
    func close() {
        let registration = state.withLock { s -> RegistrationID?? in
            guard !s.finished else { return nil }
            s.finished = true
            s.events = nil
            defer { s.registration = nil }
            return .some(s.registration)
        }
        guard let registration else { return }
        let socket = self.socket
        let loop = self.loop
        let sent = loop.execute {
            _ = socket.sendAll(SoftWire.encodeReason(.disconnect, 0), timeoutMs: 0)
            if let registration { loop.unregister(registration) }
            socket.close()
        }
        if !sent { socket.close() }
    }
}
