import CSystem

/// An epoll instance and the buffer epoll_wait fills. Interest changes (add/modify/remove) are
/// safe from any thread — the kernel serialises them — but `wait` and `event(at:)` belong to the
/// loop thread alone, and `close` must come after every other use (EventLoopCore ensures both).
final class EpollSelector: @unchecked Sendable {
    let descriptor: Int32
    let capacity: Int
    private let buffer: UnsafeMutablePointer<epoll_event>

    init(capacity: Int = 64) throws(SysErrno) {
        descriptor = try EngineSyscalls.epollCreate1(flags: Int32(EPOLL_CLOEXEC))
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
    }

    deinit { buffer.deallocate() }

    func add(fd: Int32, events: UInt32, token: UInt64) throws(SysErrno) {
        try EngineSyscalls.epollCtl(descriptor, op: EPOLL_CTL_ADD, fd: fd, events: events, data: token)
    }

    func modify(fd: Int32, events: UInt32, token: UInt64) throws(SysErrno) {
        try EngineSyscalls.epollCtl(descriptor, op: EPOLL_CTL_MOD, fd: fd, events: events, data: token)
    }

    func remove(fd: Int32) throws(SysErrno) {
        try EngineSyscalls.epollCtl(descriptor, op: EPOLL_CTL_DEL, fd: fd, events: 0, data: 0)
    }

    /// Blocks up to `timeoutMs` (-1: forever); returns how many events `event(at:)` can read.
    /// A full buffer is fine: the rest stay ready and come back on the next call.
    func wait(timeoutMs: Int32) throws(SysErrno) -> Int {
        try EngineSyscalls.epollWait(descriptor, into: buffer, capacity: Int32(capacity), timeoutMs: timeoutMs)
    }

    func event(at index: Int) -> (events: UInt32, token: UInt64) {
        (buffer[index].events, buffer[index].data.u64)
    }

    func close() { try? EngineSyscalls.close(descriptor) }
}
