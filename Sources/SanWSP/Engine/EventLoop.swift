/// The progress engine: one thread, one epoll instance, knowing nothing of Winsock. Transports
/// register descriptors (sockets, the rdma_cm event channel, the verbs completion channel) and
/// get their handler called on the loop thread when epoll reports them.
///
/// Thread rules: every method is safe from any thread, including from inside a handler, timer or
/// executed work; handlers, timers and work all run on the loop thread, one at a time.
///
/// Unregister guarantee — once `unregister(id)` returns, the handler is not running and will not
/// run again:
/// - Dispatch looks the handler up in the registration table for every event, under the table
///   lock, and unregister removes it under the same lock, so no dispatch *starts* afterwards.
/// - On the loop thread nothing else can be mid-dispatch, so removal is enough: immediate.
/// - From another thread a dispatch may have looked the handler up just before removal and still
///   be running it. Unregister then queues a barrier with `execute` and waits for it: work runs
///   only after the turn's dispatch, so when the barrier runs the handler has returned. (If the
///   loop has already wound down it dispatches nothing, and unregister does not wait.) So do not
///   call unregister from a foreign thread while holding a lock the handler takes.
final class EventLoop: Sendable {
    typealias Handler = LoopRegistrations.Handler
    typealias Work = LoopTaskQueue.Work

    /// How a registration is reported: level-triggered (while ready) or edge-triggered (on
    /// becoming ready, EPOLLET; the handler must then drain until EAGAIN).
    enum Trigger: Sendable {
        case level, edge
    }

    private let core: EventLoopCore

    /// Creates the epoll instance and eventfd and starts the loop thread.
    init(name: String = "sanwsp-engine") throws(SysErrno) {
        core = try EventLoopCore(name: name)
    }

    /// Stops the loop (without leaking fds or the thread) when the last reference goes.
    deinit { core.shutdown() }

    var inLoopThread: Bool { core.inLoopThread }

    /// Why the loop stopped by itself (epoll_wait failed); nil while running or after shutdown.
    var stopReason: SysErrno? { core.stopReason }

    // MARK: Descriptors

    /// Starts watching `fd` for `events` (EpollEvent bits; EPOLLERR/EPOLLHUP are always
    /// reported). `handler` gets the ready bits on the loop thread. Unregister before closing
    /// `fd`. Throws the epoll_ctl errno (EEXIST if `fd` is already registered), or EBADF once
    /// the loop has shut down.
    func register(fd: Int32, events: UInt32, trigger: Trigger = .level, handler: @escaping Handler)
        throws(SysErrno) -> RegistrationID
    {
        try core.registrations.add(
            fd: fd, events: Self.mask(events, trigger), handler: handler, selector: core.selector)
    }

    /// Replaces the watched events (e.g. add EpollEvent.output while a send is blocked).
    /// Throws ENOENT for an unknown registration.
    func modify(_ id: RegistrationID, events: UInt32, trigger: Trigger = .level) throws(SysErrno) {
        try core.registrations.modify(id, events: Self.mask(events, trigger), selector: core.selector)
    }

    /// Stops watching; see the type's documentation for the guarantee. Unknown ids are ignored.
    func unregister(_ id: RegistrationID) {
        let handler = core.registrations.remove(id, selector: core.selector)
        _ = handler  // released here, outside the table lock
        guard !core.inLoopThread else { return }
        let latch = LoopLatch()
        if core.tasks.enqueue({ latch.open() }) { latch.wait() }
    }

    // MARK: Work and timers

    /// Runs `work` on the loop thread soon, after the current turn's events; work submitted from
    /// one thread runs in submission order. Returns false (and never runs it) once the loop has
    /// shut down; true means it will run exactly once.
    @discardableResult
    func execute(_ work: @escaping Work) -> Bool {
        core.tasks.enqueue(work)
    }

    /// Runs `work` on the loop thread once `nanoseconds` have passed on the monotonic clock (never
    /// earlier). Timers due together fire in deadline order, ties in scheduling order.
    @discardableResult
    func schedule(after nanoseconds: UInt64, _ work: @escaping Work) -> TimerID {
        core.schedule(after: nanoseconds, work)
    }

    /// Returns true if the timer was removed before firing: then it never fires. False if it
    /// already fired, is firing right now, or was cancelled already. Called on the loop thread
    /// for a timer that has not started, it always succeeds — even for one due in the same turn.
    @discardableResult
    func cancel(_ id: TimerID) -> Bool {
        core.cancel(id)
    }

    // MARK: Lifetime

    /// Stops the loop, joins its thread and closes the epoll fd and eventfd. Work already
    /// accepted by `execute` still runs; pending timers and registrations are dropped. Idempotent.
    /// Called on the loop thread it cannot join itself: the loop stops after the current callback
    /// and the thread closes the fds as it exits.
    func shutdown() {
        core.shutdown()
    }

    private static func mask(_ events: UInt32, _ trigger: Trigger) -> UInt32 {
        trigger == .edge ? events | EpollEvent.edgeTriggered : events
    }
}
