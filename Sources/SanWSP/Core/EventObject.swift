import Glibc
import Synchronization
import WinSock

/// A manual-reset event backed by an eventfd: the fd polls readable exactly while the event is
/// set, so a switch can wait for it with poll/epoll as well as WSAWaitForMultipleEvents.
final class EventObject: Sendable {
    let fd: Int32
    private let signalled = Mutex(false)

    init() throws(WSAError) {
        switch Syscall.makeEventFD() {
        case .success(let fd): self.fd = fd
        case .failure: throw WSAError(WSA_NOT_ENOUGH_MEMORY)
        }
    }

    deinit { Syscall.closeFD(fd) }

    func set() {
        signalled.withLock { on in
            if !on { Syscall.signal(eventFD: fd); on = true }
        }
    }

    func reset() {
        signalled.withLock { on in
            if on { Syscall.drain(eventFD: fd); on = false }
        }
    }

    var isSet: Bool { signalled.withLock { $0 } }
}

/// The process's event objects. A WSAEVENT is `table handle << 1`: even, so bit 0 stays free for
/// the WSAOVERLAPPED.hEvent convention, and never reused while open.
enum EventObjects {
    static let table = HandleTable<EventObject>()

    static func create() throws(WSAError) -> WSAEVENT {
        let event = try EventObject()
        guard let id = table.insert(event) else { throw WSAError(WSA_NOT_ENOUGH_MEMORY) }
        return UnsafeMutableRawPointer(bitPattern: UInt(id << 1))!
    }

    private static func id(_ handle: WSAEVENT?) -> UInt64? {
        guard let handle else { return nil }
        let bits = UInt64(UInt(bitPattern: handle))
        return bits & 1 == 0 ? bits >> 1 : nil
    }

    static func lookup(_ handle: WSAEVENT?) throws(WSAError) -> EventObject {
        guard let id = id(handle), let event = table.lookup(id) else { throw .invalidHandle }
        return event
    }

    static func close(_ handle: WSAEVENT?) throws(WSAError) {
        guard let id = id(handle), table.remove(id) != nil else { throw .invalidHandle }
    }

    /// WSAWaitForMultipleEvents: the index of the (lowest) signalled event, or nil on timeout.
    static func wait(_ handles: [WSAEVENT?], all: Bool, timeoutMs: DWORD) throws(WSAError) -> Int? {
        guard !handles.isEmpty, handles.count <= Int(WSA_MAXIMUM_WAIT_EVENTS) else {
            throw .invalidParameter
        }
        var events: [EventObject] = []
        for handle in handles { events.append(try lookup(handle)) }   // keeps fds alive
        let deadline: UInt64? = timeoutMs == WSA_INFINITE
            ? nil : Syscall.monotonicNanoseconds() + UInt64(timeoutMs) * 1_000_000
        var fds = [pollfd](repeating: pollfd(), count: events.count)
        while true {
            let states = events.map(\.isSet)
            if all {
                if states.allSatisfy({ $0 }) { return 0 }
            } else if let first = states.firstIndex(of: true) {
                return first
            }
            var remaining: Int32 = -1
            if let deadline {
                let now = Syscall.monotonicNanoseconds()
                if now >= deadline { return nil }
                remaining = Int32(min((deadline - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            }
            // Wait on the events not yet set (all) or on every event (any).
            var n = 0
            for (i, event) in events.enumerated() where !(all && states[i]) {
                fds[n] = pollfd(fd: event.fd, events: Int16(POLLIN), revents: 0)
                n += 1
            }
            if case .failure = fds.withUnsafeMutableBufferPointer({
                Syscall.poll($0.baseAddress!, n, timeoutMs: remaining)
            }) {
                throw .invalidHandle
            }
        }
    }
}

/// WSAGetLastError's per-thread value, kept in a pthread key (no allocation per thread).
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var value: Int32 {
        get { Int32(truncatingIfNeeded: Int(bitPattern: pthread_getspecific(key))) }
        set { pthread_setspecific(key, UnsafeRawPointer(bitPattern: Int(newValue))) }
    }
}
