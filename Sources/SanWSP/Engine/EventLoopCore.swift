import Glibc
import Synchronization

/// The loop's state and its thread body. Separate from `EventLoop` so the thread can keep it
/// alive: the handle's deinit may run on the loop thread itself (a handler dropping the last
/// reference), and then the core must outlive the handle until the thread has wound down.
///
/// One turn: wait for events (timeout = nearest timer) → dispatch handlers → fire due timers →
/// run queued work. Everything except the wait and dispatch is safe from any thread.
/// (@unchecked only for `batch`, which the loop thread alone touches; the rest is locked/atomic.)
final class EventLoopCore: @unchecked Sendable {
    typealias Work = LoopTaskQueue.Work

    private enum Lifecycle {
        case running(pthread_t)
        case shutDown
    }

    private struct Timers {
        var heap = LoopTimerHeap()
        var nextID: UInt64 = 1
        var closed = false
    }

    let selector: EpollSelector
    let tasks: LoopTaskQueue
    let registrations = LoopRegistrations()
    private let timers = Mutex(Timers())
    private let lifecycle = Mutex(Lifecycle.shutDown)
    private let stopRequested = Atomic<Bool>(false)
    /// Set by a shutdown issued on the loop thread: nobody joins, so the thread closes the fds.
    private let closeOnExit = Atomic<Bool>(false)
    /// pthread_self() of the loop thread while it runs, 0 otherwise (a finished thread's id may
    /// be reused by a new thread, which must not pass for the loop).
    private let loopThread = Atomic<UInt>(0)
    /// Last clock reading, the fallback should clock_gettime ever fail.
    private let lastNow = Atomic<UInt64>(0)
    /// Why the loop stopped on its own (epoll_wait failed), if it did.
    private let failure = Mutex<SysErrno?>(nil)
    /// Loop-thread-only: the array the task queue is swapped into each turn.
    private var batch: [Work] = []

    init(name: String) throws(SysErrno) {
        selector = try EpollSelector()
        do {
            tasks = try LoopTaskQueue()
        } catch {
            selector.close()
            throw error
        }
        do {
            try selector.add(fd: tasks.eventDescriptor, events: EpollEvent.input, token: LoopRegistrations.wakeToken)
            let thread = try LoopThread.start(name: name) { [self] in threadMain() }
            lifecycle.withLock { $0 = .running(thread) }
        } catch {
            closeDescriptors()
            throw error
        }
    }

    var inLoopThread: Bool { loopThread.load(ordering: .relaxed) == LoopThread.current }

    var stopReason: SysErrno? { failure.withLock { $0 } }

    // MARK: Timers

    func schedule(after nanoseconds: UInt64, _ work: @escaping Work) -> TimerID {
        let (deadline, overflow) = now().addingReportingOverflow(nanoseconds)
        let timer = { (id: UInt64) in LoopTimer(id: id, deadline: overflow ? .max : deadline, work: work) }
        let (id, earliest) = timers.withLock { timers -> (UInt64, Bool) in
            let id = timers.nextID
            timers.nextID += 1
            guard !timers.closed else { return (id, false) }
            return (id, timers.heap.insert(timer(id)))
        }
        // The loop thread recomputes its timeout before waiting again; others must interrupt it.
        if earliest && !inLoopThread { tasks.wake() }
        return TimerID(rawValue: id)
    }

    func cancel(_ id: TimerID) -> Bool {
        let removed = timers.withLock { $0.heap.remove(id: id.rawValue) }
        return removed != nil  // its closure is released here, outside the lock
    }

    // MARK: Shutdown

    func shutdown() {
        let onLoopThread = inLoopThread
        let thread: pthread_t? = lifecycle.withLock { state in
            guard case .running(let thread) = state else { return nil }
            state = .shutDown
            return thread
        }
        guard let thread else { return }
        if onLoopThread {
            // Cannot join ourselves: the loop exits after the current callback and cleans up.
            closeOnExit.store(true, ordering: .relaxed)
            stopRequested.store(true, ordering: .releasing)
            LoopThread.detachCurrent()
        } else {
            stopRequested.store(true, ordering: .releasing)
            tasks.wake()
            LoopThread.join(thread)
            closeDescriptors()
        }
    }

    // MARK: Loop thread

    private func threadMain() {
        loopThread.store(LoopThread.current, ordering: .relaxed)
        batch.reserveCapacity(64)
        while !stopRequested.load(ordering: .acquiring) {
            let ready: Int
            do {
                ready = try selector.wait(timeoutMs: waitTimeout())
            } catch {
                failure.withLock { $0 = error }
                break
            }
            dispatch(ready)
            fireDueTimers()
            runTasks()
        }
        windDown()
        loopThread.store(0, ordering: .relaxed)
        if closeOnExit.load(ordering: .relaxed) { closeDescriptors() }
    }

    private func dispatch(_ ready: Int) {
        for index in 0..<ready {
            if stopRequested.load(ordering: .relaxed) { return }
            let (events, token) = selector.event(at: index)
            if token == LoopRegistrations.wakeToken {
                tasks.consumeWakeup()
            } else if let box = registrations.box(for: token) {
                // Looked up per event: a handler unregistered earlier in this batch is skipped.
                box.handler(events)
            }
        }
    }

    /// One timer at a time, so a timer can cancel another due in the same turn.
    private func fireDueTimers() {
        let now = now()
        while !stopRequested.load(ordering: .relaxed),
              let timer = timers.withLock({ $0.heap.popDue(now: now) })
        {
            timer.work()
        }
    }

    private func runTasks() {
        tasks.takeAll(into: &batch)
        for work in batch { work() }
        batch.removeAll(keepingCapacity: true)
    }

    /// Milliseconds until the nearest timer, rounded up so a timer is never woken for early;
    /// -1 (forever) when none is pending.
    private func waitTimeout() -> Int32 {
        guard let deadline = timers.withLock({ $0.heap.nextDeadline }) else { return -1 }
        let now = now()
        guard deadline > now else { return 0 }
        let milliseconds = (deadline - now + 999_999) / 1_000_000
        return Int32(clamping: milliseconds)
    }

    /// After the last turn: work already accepted still runs (so `execute` returning true
    /// means the work runs exactly once), then timers and handlers are dropped — outside the
    /// locks, as their captures' deinits may call back in.
    private func windDown() {
        for work in tasks.close() { work() }
        let droppedTimers = timers.withLock { timers in
            timers.closed = true
            return timers.heap.removeAll()
        }
        let droppedHandlers = registrations.close()
        _ = (droppedTimers, droppedHandlers)
    }

    private func closeDescriptors() {
        selector.close()
        tasks.closeDescriptor()
    }

    private func now() -> UInt64 {
        // clock_gettime(CLOCK_MONOTONIC) fails only on invalid arguments; never stall on it.
        guard let reading = try? EngineSyscalls.monotonicNanoseconds() else {
            return lastNow.load(ordering: .relaxed)
        }
        lastNow.store(reading, ordering: .relaxed)
        return reading
    }
}
