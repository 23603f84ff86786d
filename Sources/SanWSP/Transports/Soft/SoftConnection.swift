import CSystem
import Glibc
import Synchronization
import WinSock

/// An established soft connection: messages into pre-posted receives, RDMA write and read
/// into exposed regions, in order over one kernel TCP connection (docs/WIRE.md).
///
/// Locks, always taken in this order: `receiver`, `sender`, `interest` (a leaf guarding the
/// epoll registration). Completions are delivered with no lock held.
final class SoftConnection: TransportConnection {
    let socket: KernelSocket
    private let loop: EventLoop
    private let events: ConnectionEvents
    private let limits: TransportLimits
    let regions = SoftRegions()

    private let receiver: Mutex<SoftReceiver>
    private let sender = Mutex(SoftSender())

    private struct Interest {
        var registration: RegistrationID?
        var reading = true
        var writing = false
        var finished = false      // closed locally or lost: nothing more is reported
    }
    private let interest = Mutex(Interest())

    // Mirrors of what the epoll interest depends on, stored under the receiver / sender locks
    // and read under `interest`: whichever updateInterest runs last sees the latest values, so
    // racing updates cannot leave a stale mask behind.
    private let receivePaused = Atomic(false)
    /// A thread receiving for itself (driveProgress): the engine stops watching input.
    private let driving = Atomic(false)
    /// pthread_self of that thread: its own completions need no wake-up.
    private let driverThread = Atomic<UInt>(0)
    /// The engine does not have the input back yet after the last driving thread (see
    /// driveProgress); when that thread last drove.
    private let rearmPending = Atomic(false)
    private let lastDriven = Atomic<UInt64>(0)
    /// Wakes that thread when a completion arrives by another path (a send the engine
    /// finished, a loss, a close).
    private let wakeFD: Int32?
    private let framesWaiting = Atomic(false)
    private let respondersFull = Atomic(false)

    /// At most this many read responses wait to be sent before we stop reading requests.
    static let maximumQueuedReadResponses = 64

    /// Connection objects alive in this process: closed and lost connections must be released
    /// (the loop's closures hold them strongly until their registration goes; tests check it).
    static let live = Atomic<Int>(0)

    init(socket: KernelSocket, loop: EventLoop, events: ConnectionEvents,
         limits: TransportLimits = .soft) {
        self.socket = socket
        self.loop = loop
        self.events = events
        self.limits = limits
        receiver = Mutex(SoftReceiver())
        if case .success(let fd) = Syscall.makeEventFD() { wakeFD = fd } else { wakeFD = nil }
        Self.live.add(1, ordering: .relaxed)
    }

    deinit {
        Self.live.subtract(1, ordering: .relaxed)
        receiver.withLock { $0.freeStaging() }
        if let wakeFD { Syscall.closeFD(wakeFD) }
    }

    /// Starts watching the socket; call on the loop thread.
    ///
    /// The loop's closures hold the connection strongly, never weakly: one weak reference gives
    /// an object a side table for good, and every retain/release of it (several per WSPSend /
    /// WSPRecv) then takes the runtime's slow path — about a tenth of the provider's user time
    /// on small messages. The registration goes away in `close` / `lose`, releasing it; timers
    /// and tasks hold it until they run (≤ `rearmRecheck`).
    func start() {
        let handler: EventLoop.Handler = { [self] ready in handle(ready) }
        guard let id = try? loop.register(
            fd: socket.fd, events: EpollEvent.input | EpollEvent.readHangup, handler: handler)
        else { return lose(WSAECONNABORTED) }
        let kept = interest.withLock { i -> Bool in
            guard !i.finished else { return false }
            i.registration = id
            return true
        }
        if !kept { loop.unregister(id) }
        updateInterest()
    }

    private func handle(_ ready: UInt32) {
        if ready & (EpollEvent.output | EpollEvent.error | EpollEvent.hangup) != 0 { flush() }
        if ready & ~EpollEvent.output != 0 { pump() }
    }

    // MARK: receiving

    /// Parses and places everything readable. Runs on the loop thread, or on a thread driving
    /// the connection: that one stops once its own operation is done (`until`), sparing a
    /// read that would find the socket empty after every message; what it leaves staged is
    /// parsed by the next wait or, when no thread waits again, by the engine once it has the
    /// socket back (`rearmIfIdle`).
    func pump(until done: () -> Bool = { false }) {
        // Answers produced in one burst (RDMA write acknowledgements, read responses) are
        // written together when the burst ends.
        // An answer to a large payload goes at once: its requester may be waiting on it to keep
        // its pipeline full (a window of RDMA writes), and one more system call is small next
        // to the payload.
        var answered = false, urgent = false
        defer { if answered { flush() } }
        while true {
            if respondersBackedUp { return updateInterest() }
            let step = receiver.withLock { r -> SoftReceiver.Step in
                guard r.lostError == nil, !r.paused else { return .paused }
                var step = r.step(fd: socket.fd, regions: regions, limits: limits)
                receivePaused.store(r.paused, ordering: .sequentiallyConsistent)
                switch step {
                case .deliver:
                    // Reserve while the operation is still ours alone (see ConnectionEvents).
                    if !events.reserveDelivery() { step = .progress }
                case .queue(let frame), .violation(let frame):
                    // Answers are queued in the order their requests were parsed, even when
                    // two threads pump this connection.
                    appendAnswer(frame)
                    urgent = r.expectLarge
                default:
                    break
                }
                return step
            }
            switch step {
            case .progress: continue
            case .deliver(let c):
                deliver(c.op, error: c.error, bytes: c.bytes)
                if done() { return }
            case .wouldBlock: return
            case .paused:
                updateInterest()
                return
            case .lost(let error): return lose(error)
            case .queue:
                if urgent {
                    answered = false
                    flush()
                } else {
                    answered = true
                }
            case .violation:
                flush()
                return lose(WSAECONNABORTED)
            }
        }
    }

    /// Call with the receiver locked (lock order: receiver, then sender).
    private func appendAnswer(_ frame: OutgoingFrame) {
        let queued = sender.withLock { s -> Bool in
            guard s.lostError == nil else { return false }
            s.queue.append(frame)
            if case .region = frame.payload { s.readResponsesQueued += 1 }
            mirror(s)
            return true
        }
        if !queued, case .region(_, _, let id) = frame.payload { regions.end(id) }
    }

    /// Hands a completion to the core and wakes a thread driving this connection (unless it
    /// is that thread: it checks its condition after every pump).
    private func deliver(_ op: TransferOp, error: Int32, bytes: Int) {
        events.transferCompleted(op, error: error, bytes: bytes)
        if driving.load(ordering: .sequentiallyConsistent), let wake = wakeFD,
           driverThread.load(ordering: .sequentiallyConsistent) != Self.currentThread {
            Syscall.signal(eventFD: wake)
        }
    }

    private static var currentThread: UInt { UInt(bitPattern: Int(bitPattern: pthread_self())) }

    /// Too many read responses wait to be written: stop reading the peer's requests until
    /// they drain, so the peer cannot grow our queue.
    private var respondersBackedUp: Bool { respondersFull.load(ordering: .sequentiallyConsistent) }

    /// Call with the sender locked, after changing its queue.
    private func mirror(_ s: SoftSender) {
        framesWaiting.store(!s.queue.isEmpty, ordering: .sequentiallyConsistent)
        respondersFull.store(s.readResponsesQueued >= Self.maximumQueuedReadResponses,
                             ordering: .sequentiallyConsistent)
    }

    func receive(_ op: TransferOp) throws(WSAError) {
        let outcome = try receiver.withLock { (r: inout SoftReceiver) throws(WSAError) -> (Completion?, Bool) in
            if let e = r.lostError { throw WSAError(e) }
            let resume = r.paused
            r.paused = false
            receivePaused.store(false, ordering: .sequentiallyConsistent)
            if r.held != nil, let c = r.takeHeld(for: op) {
                return (events.reserveDelivery() ? c : nil, resume)
            }
            r.posted.append(op)
            return (nil, resume)
        }
        if let c = outcome.0 { deliver(c.op, error: c.error, bytes: c.bytes) }
        if outcome.1 {
            // A thread driving the connection parses what waited (a wake-up in case it sleeps
            // on an empty socket). A thread that drove moments ago is likely to wait again
            // soon and parse it then; if it does not, the rearm timer hands the socket back to
            // the engine, which pumps. Otherwise the engine does it now. Handing every resume
            // to the engine would have it pump alongside the next driver, contending for the
            // receiver.
            if driving.load(ordering: .sequentiallyConsistent), let wake = wakeFD {
                Syscall.signal(eventFD: wake)
            }
            if !driving.load(ordering: .sequentiallyConsistent)
                && !rearmPending.load(ordering: .sequentiallyConsistent) {
                updateInterest()
                loop.execute { [self] in pump() }
            }
        }
    }

    /// The waiting thread reads and parses the socket itself, as the engine would: one
    /// wake-up per message instead of two. One thread drives a connection at a time; others
    /// (and everyone when the wake-up descriptor could not be made) wait on the core's signal.
    ///
    /// While threads keep driving, the engine stays off the socket (input and output): giving
    /// it back after every wait would cost two epoll_ctl calls per message. It gets the socket
    /// back once no thread has driven for `rearmDelay` (a timer checks: 1 ms after a driver
    /// stops, then every `rearmRecheck` while threads keep driving), so completions no thread
    /// waits for are at most about that late (1 ms after an occasional wait, 10 ms after a run
    /// of them). Operations posted between waits (a window of sends or RDMA operations) do not
    /// hand the socket back either: arming the engine for them cost two epoll_ctl calls per
    /// operation and an engine thread contending with the driver (small RDMA operations ran at
    /// 0.55-0.6 of TCP instead of 0.8).
    func driveProgress(until done: () -> Bool) -> Bool {
        guard let wake = wakeFD else { return false }
        guard driving.compareExchange(expected: false, desired: true,
                                      ordering: .sequentiallyConsistent).exchanged else { return false }
        driverThread.store(Self.currentThread, ordering: .sequentiallyConsistent)
        updateInterest()
        defer {
            lastDriven.store(Syscall.monotonicNanoseconds(), ordering: .relaxed)
            driverThread.store(0, ordering: .sequentiallyConsistent)
            driving.store(false, ordering: .sequentiallyConsistent)
            if !rearmPending.exchange(true, ordering: .sequentiallyConsistent) { scheduleRearm() }
        }
        while !done() {
            // Parse what is already staged first; otherwise wait for input (or, with frames
            // queued, for room to write them) before touching the socket, so an idle socket
            // costs one poll, not a failed recv as well.
            if !receiver.withLock({ $0.staging.available > 0 }) {
                let writing = framesWaiting.load(ordering: .sequentiallyConsistent)
                // A stale socket descriptor only makes poll return early: pump() and flush()
                // never touch the socket once the connection has ended.
                let (woken, writable, readable) = withUnsafeTemporaryAllocation(of: pollfd.self, capacity: 2) {
                    fds -> (Bool, Bool, Bool) in
                    fds[0] = pollfd(fd: socket.fd, events: Int16(POLLIN) | (writing ? Int16(POLLOUT) : 0),
                                    revents: 0)
                    fds[1] = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
                    _ = Syscall.poll(fds.baseAddress!, 2, timeoutMs: 1000)
                    return (fds[1].revents != 0, fds[0].revents & Int16(POLLOUT) != 0,
                            fds[0].revents & ~Int16(POLLOUT) != 0)
                }
                if woken { Syscall.drain(eventFD: wake) }
                // Queued frames are this thread's to write while it drives (the engine is off
                // the socket): no hand-off to the engine thread per message.
                if writable { flush() }
                if done() { break }
                // Only writability: nothing to read (a sender waiting for room would otherwise
                // make a failed read per wake). A wake-up may mean a receive was posted for a
                // paused message: parse then.
                if !readable && !woken { continue }
            }
            pump(until: done)
        }
        return true
    }

    /// The engine gets the socket back once no thread has driven for this long...
    static let rearmDelay: UInt64 = 1_000_000      // 1 ms
    /// ...checked this often while threads keep driving. Each check wakes the engine thread,
    /// which shares a CPU with the driving threads: at 1 kHz that cost a quarter of the
    /// bandwidth on a 2-CPU VM (sanperf wsp_bw), at 100 Hz it does not show.
    static let rearmRecheck: UInt64 = 10_000_000   // 10 ms

    private func scheduleRearm(after delay: UInt64 = rearmDelay) {
        loop.schedule(after: delay) { [self] in rearmIfIdle() }
    }

    /// Loop thread: hand the input back to the engine once no thread has driven for a while.
    private func rearmIfIdle() {
        // A driver may have stamped lastDriven after we read the clock: never negative.
        let now = Syscall.monotonicNanoseconds(), last = lastDriven.load(ordering: .relaxed)
        let idle = now > last ? now - last : 0
        if driving.load(ordering: .sequentiallyConsistent) || idle < Self.rearmDelay {
            return scheduleRearm(after: Self.rearmRecheck)
        }
        rearmPending.store(false, ordering: .sequentiallyConsistent)
        updateInterest()
        pump()   // input that arrived meanwhile
    }

    // MARK: sending

    func send(_ op: TransferOp) throws(WSAError) {
        var frame = OutgoingFrame()
        frame.header.length = frame.header.withBytes {
            SoftWire.writeHeader(.data, length: op.total, into: $0)
        }
        frame.payload = .buffers(op)
        frame.completesSend = true
        try enqueueChecked(frame)
    }

    func rdmaWrite(_ op: TransferOp, to remote: RemoteRegion, offset: UInt32) throws(WSAError) {
        try rdma(op, .rdmaWrite, remote, offset)
    }

    func rdmaRead(_ op: TransferOp, from remote: RemoteRegion, offset: UInt32) throws(WSAError) {
        try rdma(op, .readRequest, remote, offset)
    }

    private func rdma(_ op: TransferOp, _ type: SoftWire.FrameType, _ remote: RemoteRegion,
                      _ offset: UInt32) throws(WSAError) {
        var frame = OutgoingFrame()
        let header = SoftWire.RdmaHeader(
            opId: UInt64(op.overlapped), regionId: remote.regionId, key: remote.key,
            offset: offset, length: UInt32(op.total))
        let payloadLength = type == .rdmaWrite ? op.total : 0
        frame.header.length = frame.header.withBytes { p in
            SoftWire.writeHeader(type, length: SoftWire.rdmaHeaderSize + payloadLength, into: p)
                + SoftWire.writeRdmaHeader(header, into: p + SoftWire.headerSize)
        }
        if type == .rdmaWrite { frame.payload = .buffers(op) }
        // The operation waits for the peer's answer; register it before the request can leave.
        try receiver.withLock { (r: inout SoftReceiver) throws(WSAError) in
            if let e = r.lostError { throw WSAError(e) }
            if type == .rdmaWrite { r.awaitingAcks.append(op) } else { r.awaitingReads.append(op) }
        }
        enqueue(frame)
    }

    private func enqueueChecked(_ frame: OutgoingFrame) throws(WSAError) {
        let wasEmpty = try sender.withLock { (s: inout SoftSender) throws(WSAError) -> Bool in
            if let e = s.lostError { throw WSAError(e) }
            let empty = s.queue.isEmpty
            s.queue.append(frame)
            if case .region = frame.payload { s.readResponsesQueued += 1 }
            mirror(s)
            return empty
        }
        // Nothing ahead of it: write now, on this thread; otherwise the engine is on it.
        if wasEmpty { flush() }
    }

    private func enqueue(_ frame: OutgoingFrame) {
        try? enqueueChecked(frame)
    }

    /// Writes queued frames until the kernel is full; delivers finished sends.
    func flush() {
        while true {
            var unblocked = false   // this response brought the queue back under its limit
            let result = sender.withLock { s -> SoftSender.FlushResult in
                guard s.lostError == nil else { return .drained }
                let result = s.flushOne(fd: socket.fd)
                if case .regionDone = result {
                    unblocked = s.readResponsesQueued == Self.maximumQueuedReadResponses - 1
                }
                mirror(s)
                switch result {
                case .completed(let op):
                    return events.reserveDelivery() ? .completed(op) : .drained
                case let other: return other
                }
            }
            switch result {
            case .completed(let op): deliver(op, error: 0, bytes: op.total)
            case .regionDone(let id):
                regions.end(id)
                // Reading requests stopped at the limit (pump): resume it, by the driving thread
                // if there is one, else by the engine. Below the limit nothing stopped.
                if unblocked {
                    if driving.load(ordering: .sequentiallyConsistent), let wake = wakeFD {
                        Syscall.signal(eventFD: wake)
                    } else {
                        updateInterest()
                        loop.execute { [self] in pump() }
                    }
                }
            case .drained:
                updateInterest()
                return
            case .blocked:
                updateInterest()
                return
            case .failed(let error):
                return lose(error)
            }
        }
    }

    /// Matches the epoll registration to what is wanted: input unless paused, output while
    /// frames wait.
    private func updateInterest() {
        interest.withLock { i in
            let reading = !receivePaused.load(ordering: .sequentiallyConsistent) && !respondersBackedUp
                && !driving.load(ordering: .sequentiallyConsistent)
                && !rearmPending.load(ordering: .sequentiallyConsistent)
            let writing = framesWaiting.load(ordering: .sequentiallyConsistent)
                && !driving.load(ordering: .sequentiallyConsistent)
                && !rearmPending.load(ordering: .sequentiallyConsistent)
            guard !i.finished, let id = i.registration, i.reading != reading || i.writing != writing
            else { return }
            i.reading = reading
            i.writing = writing
            var mask = EpollEvent.readHangup
            if reading { mask |= EpollEvent.input }
            if writing { mask |= EpollEvent.output }
            try? loop.modify(id, events: mask)
        }
    }

    // MARK: regions

    func expose(base: UInt, length: Int, access: MemoryAccess) throws(WSAError) -> RemoteRegion {
        if let e = receiver.withLock({ $0.lostError }) { throw WSAError(e) }
        return regions.expose(base: base, length: length, access: access)
    }

    func revoke(_ region: RemoteRegion) throws(WSAError) { try regions.revoke(region) }

    // The kernel needs nothing registered: the provider's own checks are the protection.
    func registerLocal(base: UInt, length: Int, access: MemoryAccess) throws(WSAError) {}
    func deregisterLocal(base: UInt, length: Int, access: MemoryAccess) {}

    func isUsing(base: UInt, length: Int) -> Bool {
        if receiver.withLock({ $0.isUsing(base: base, length: length) }) { return true }
        return sender.withLock { s in
            s.queue.contains { frame in
                if let op = frame.completes { return op.uses(base: base, length: length) }
                if case .buffers(let op) = frame.payload { return op.uses(base: base, length: length) }
                return false
            }
        }
    }

    // MARK: ending

    /// Stops both halves; returns every operation still pending (they were not delivered).
    private func stop(_ error: Int32) -> [TransferOp]? {
        let first = interest.withLock { i -> Bool in
            guard !i.finished else { return false }
            i.finished = true
            return true
        }
        guard first else { return nil }
        var ops = receiver.withLock { r -> [TransferOp] in
            r.lostError = error
            return r.drain()
        }
        let (sends, pinned) = sender.withLock { s -> ([TransferOp], [UInt64]) in
            s.lostError = error
            return s.drain()
        }
        ops += sends
        pinned.forEach { regions.end($0) }
        regions.closeAccess()   // the peer can reach nothing once the connection ends
        return ops
    }

    /// The peer or the network ended the connection.
    private func lose(_ error: Int32) {
        guard let ops = stop(error) else { return }
        let registration = interest.withLock { i -> RegistrationID? in
            defer { i.registration = nil }
            return i.registration
        }
        let socket = self.socket
        let loop = self.loop
        if loop.inLoopThread {
            if let registration { loop.unregister(registration) }
            socket.close()
        } else if !loop.execute({
            if let registration { loop.unregister(registration) }
            socket.close()
        }) {
            socket.close()
        }
        for op in ops where events.reserveDelivery() {
            deliver(op, error: error, bytes: 0)
        }
        events.connectionLost(error: error)
        if let wake = wakeFD { Syscall.signal(eventFD: wake) }
    }

    /// Local close: the pending operations go back to the caller (to abort), the peer gets a
    /// DISCONNECT (best effort) and the socket is released on the loop thread.
    func close() -> [TransferOp] {
        guard let ops = stop(WSAECONNABORTED) else { return [] }
        let registration = interest.withLock { i -> RegistrationID? in
            defer { i.registration = nil }
            return i.registration
        }
        let socket = self.socket
        let loop = self.loop
        let ran = loop.execute {
            _ = socket.sendAll(SoftWire.encodeReason(.disconnect, 0), timeoutMs: 0)
            if let registration { loop.unregister(registration) }
            socket.close()
        }
        if !ran { socket.close() }
        return ops
    }
}
