import Glibc
import Synchronization

/// Identifies one registration; also the epoll data word, so an event for a registration that
/// is gone (or whose fd number was reused) finds no handler instead of the wrong one.
struct RegistrationID: Hashable, Sendable {
    let rawValue: UInt64
}

/// The loop's table of registered descriptors and their handlers. Every epoll_ctl happens under
/// the table's lock together with the `closed` check, so none can reach the epoll descriptor
/// after the loop has wound down and the descriptor number may have been reused.
final class LoopRegistrations: Sendable {
    typealias Handler = @Sendable (UInt32) -> Void

    /// The handler in a class box: handing a bare closure out through `withLock` (generic
    /// over its result) re-wraps it in a new heap context on every epoll event.
    final class Box: Sendable {
        let handler: Handler
        init(_ handler: @escaping Handler) { self.handler = handler }
    }

    private struct Entry {
        let fd: Int32
        let box: Box
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 1  // 0 is the wake-up token
        var closed = false
    }

    static let wakeToken: UInt64 = 0
    private let state = Mutex(State())

    func add(fd: Int32, events: UInt32, handler: @escaping Handler, selector: EpollSelector)
        throws(SysErrno) -> RegistrationID
    {
        try state.withLock { (state) throws(SysErrno) -> RegistrationID in
            guard !state.closed else { throw SysErrno(EBADF) }
            let id = state.nextID
            try selector.add(fd: fd, events: events, token: id)
            state.nextID += 1
            state.entries[id] = Entry(fd: fd, box: Box(handler))
            return RegistrationID(rawValue: id)
        }
    }

    func modify(_ id: RegistrationID, events: UInt32, selector: EpollSelector) throws(SysErrno) {
        try state.withLock { (state) throws(SysErrno) -> Void in
            guard !state.closed else { throw SysErrno(EBADF) }
            guard let entry = state.entries[id.rawValue] else { throw SysErrno(ENOENT) }
            try selector.modify(fd: entry.fd, events: events, token: id.rawValue)
        }
    }

    /// Drops the entry; returns its handler's box so the caller releases it outside the lock
    /// (its captures' deinits may call back into the loop).
    func remove(_ id: RegistrationID, selector: EpollSelector) -> Box? {
        state.withLock { state in
            guard let entry = state.entries.removeValue(forKey: id.rawValue) else { return nil }
            // Failure means the kernel no longer holds it (fd already closed): nothing to undo,
            // and the event token is dead either way.
            if !state.closed { try? selector.remove(fd: entry.fd) }
            return entry.box
        }
    }

    func box(for token: UInt64) -> Box? {
        state.withLock { $0.entries[token]?.box }
    }

    /// Refuses further epoll_ctl calls and returns the handlers for release outside the lock.
    func close() -> [Box] {
        state.withLock { state in
            state.closed = true
            defer { state.entries = [:] }
            return state.entries.values.map(\.box)
        }
    }
}
