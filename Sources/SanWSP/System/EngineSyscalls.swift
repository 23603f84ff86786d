import CSystem
import Glibc

/// An errno from a failed libc call, as a typed error.
struct SysErrno: Error, Hashable, Sendable, CustomStringConvertible {
    let rawValue: Int32
    init(rawValue: Int32) { self.rawValue = rawValue }
    init(_ rawValue: Int32) { self.rawValue = rawValue }

    var description: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return "errno \(rawValue) (\(String(cString: text)))"
    }
}

/// Names the seam's calls, so a test can force one of them to fail.
enum SystemCall: Hashable, Sendable, CaseIterable {
    case epollCreate1, epollCtl, epollWait, eventfd, read, write, close, clockGettime, threadCreate
}

/// The engine's seam to libc: every call the progress engine makes goes through here, so that
/// EINTR is handled in one place and tests can inject failures (`EngineSyscallFaults`).
enum EngineSyscalls {
    static func epollCreate1(flags: Int32) throws(SysErrno) -> Int32 {
        try retrying(.epollCreate1) { epoll_create1(flags) }
    }

    static func epollCtl(_ epfd: Int32, op: Int32, fd: Int32, events: UInt32, data: UInt64) throws(SysErrno) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = data
        _ = try retrying(.epollCtl) { epoll_ctl(epfd, op, fd, &event) }
    }

    /// Unlike the others, EINTR is reported as "no events" rather than retried: a retry would
    /// restart the full timeout, so a stream of signals could postpone timers indefinitely.
    static func epollWait(_ epfd: Int32, into events: UnsafeMutablePointer<epoll_event>, capacity: Int32, timeoutMs: Int32)
        throws(SysErrno) -> Int
    {
        if let forced = EngineSyscallFaults.take(.epollWait) {
            if forced == EINTR { return 0 }
            throw SysErrno(forced)
        }
        let n = epoll_wait(epfd, events, capacity, timeoutMs)
        if n >= 0 { return Int(n) }
        let code = errno
        if code == EINTR { return 0 }
        throw SysErrno(code)
    }

    static func eventfd(initialValue: UInt32, flags: Int32) throws(SysErrno) -> Int32 {
        try retrying(.eventfd) { CSystem.eventfd(initialValue, flags) }
    }

    static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) throws(SysErrno) -> Int {
        try retrying(.read) { Glibc.read(fd, buffer, count) }
    }

    static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) throws(SysErrno) -> Int {
        try retrying(.write) { Glibc.write(fd, buffer, count) }
    }

    /// close(2) is never retried: Linux releases the descriptor even when it reports EINTR, so a
    /// retry could close a descriptor another thread has just been given.
    static func close(_ fd: Int32) throws(SysErrno) {
        let forced = EngineSyscallFaults.take(.close)
        let result = Glibc.close(fd)  // a forced failure still releases the fd, as the kernel does
        let code = forced ?? (result < 0 ? errno : 0)
        if code != 0 && code != EINTR { throw SysErrno(code) }
    }

    /// CLOCK_MONOTONIC in nanoseconds: immune to wall-clock steps, which timers must not see.
    static func monotonicNanoseconds() throws(SysErrno) -> UInt64 {
        var now = timespec()
        _ = try retrying(.clockGettime) { clock_gettime(CLOCK_MONOTONIC, &now) }
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// pthread_create returns its error instead of setting errno; normalised here.
    static func threadCreate(
        _ start: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
        _ argument: UnsafeMutableRawPointer
    ) throws(SysErrno) -> pthread_t {
        var thread = pthread_t()
        while true {
            let code = EngineSyscallFaults.take(.threadCreate) ?? pthread_create(&thread, nil, start, argument)
            if code == 0 { return thread }
            if code != EINTR { throw SysErrno(code) }
        }
    }

    /// Runs `call` until it succeeds or fails with something other than EINTR. A negative
    /// result means failure with the reason in errno, as for all the wrapped calls.
    private static func retrying<R: BinaryInteger>(_ name: SystemCall, _ call: () -> R) throws(SysErrno) -> R {
        while true {
            if let forced = EngineSyscallFaults.take(name) {
                if forced == EINTR { continue }
                throw SysErrno(forced)
            }
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code != EINTR { throw SysErrno(code) }
        }
    }
}
