import CSystem
import Synchronization

/// Work handed to the loop thread, and the eventfd that wakes it. Submitters append under the
/// lock; the loop swaps the whole array out per turn, so a wake costs one eventfd write at most
/// (`wakePending` coalesces them) and no allocation beyond the closure itself.
final class LoopTaskQueue: Sendable {
    typealias Work = @Sendable () -> Void

    private struct State {
        var tasks: [Work] = []
        /// An eventfd write the loop has not consumed yet; further wakes would be redundant.
        var wakePending = false
        /// Set when the loop winds down; after it, nothing is accepted and the eventfd may close.
        var closed = false
    }

    let eventDescriptor: Int32
    private let state = Mutex(State())

    init() throws(SysErrno) {
        eventDescriptor = try EngineSyscalls.eventfd(
            initialValue: 0, flags: Int32(EFD_CLOEXEC | EFD_NONBLOCK))
    }

    /// Queues `work` and wakes the loop; false once the loop has wound down.
    func enqueue(_ work: @escaping Work) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.tasks.append(work)
            signal(&state)
            return true
        }
    }

    /// Interrupts epoll_wait (a new earliest timer, or shutdown) without queueing work.
    func wake() {
        state.withLock { signal(&$0) }
    }

    /// Swaps the pending tasks into `batch` (which must be empty). Both arrays keep their
    /// capacity across turns, so steady-state execution does not allocate.
    func takeAll(into batch: inout [Work]) {
        state.withLock { state in
            // Cleared first: any enqueue from now on writes the eventfd again, so none is missed.
            state.wakePending = false
            swap(&state.tasks, &batch)
        }
    }

    /// Resets the eventfd counter after epoll reported it readable.
    func consumeWakeup() {
        var counter: UInt64 = 0
        _ = try? EngineSyscalls.read(eventDescriptor, into: &counter, count: 8)
    }

    /// Stops accepting work and returns what was still queued (the loop runs it, outside the
    /// lock, so every accepted task runs exactly once).
    func close() -> [Work] {
        state.withLock { state in
            state.closed = true
            defer { state.tasks = [] }
            return state.tasks
        }
    }

    /// Only after `close()`: no writer can reach the descriptor any more (writes happen under
    /// the lock and check `closed`), so its number cannot be reused under a writer.
    func closeDescriptor() { try? EngineSyscalls.close(eventDescriptor) }

    /// Caller holds the lock, which also keeps the descriptor open during the write.
    private func signal(_ state: inout State) {
        guard !state.closed, !state.wakePending else { return }
        state.wakePending = true
        var one: UInt64 = 1
        _ = try? EngineSyscalls.write(eventDescriptor, from: &one, count: 8)
    }
}
