import CSystem
import Glibc
import Synchronization

/// The provider's seam to the C library: core code makes libc calls only through here, so a
/// test can force a failure (see `SyscallFaults`) without touching the system.
enum Syscall {
    /// Addresses of interfaces that are up (with port 0).
    static func interfaceAddresses() -> [SocketAddress] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(first) }
        var out: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let sa = entry.pointee.ifa_addr, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0,
               let address = SocketAddress(kernel: UnsafePointer(sa))
            {
                out.append(address.host)
            }
            cursor = entry.pointee.ifa_next
        }
        return out
    }

    /// A nonblocking, close-on-exec eventfd.
    static func makeEventFD() -> Result<Int32, SysError> {
        if let forced = SyscallFaults.take(.eventfd) { return .failure(forced) }
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        return fd >= 0 ? .success(fd) : .failure(SysError(errno))
    }

    static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        while write(fd, &one, 8) < 0 && errno == EINTR {}
    }

    static func drain(eventFD fd: Int32) {
        var value: UInt64 = 0
        while read(fd, &value, 8) < 0 && errno == EINTR {}
    }

    static func closeFD(_ fd: Int32) { _ = Glibc.close(fd) }

    /// poll(2) retrying EINTR; returns the number of ready descriptors or the errno.
    static func poll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, timeoutMs: Int32)
        -> Result<Int32, SysError>
    {
        while true {
            let r = Glibc.poll(fds, nfds_t(count), timeoutMs)
            if r >= 0 { return .success(r) }
            if errno != EINTR { return .failure(SysError(errno)) }
        }
    }

    /// Monotonic time in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// An errno from a failed call.
struct SysError: Error, Equatable {
    let errno: Int32
    init(_ errno: Int32) { self.errno = errno }
}

/// Test hook: make the next `count` calls of a seam function fail with `errno`.
enum SyscallFaults {
    enum Call: Hashable, Sendable { case eventfd, socket, bind, connect }
    private static let pending = Mutex<[Call: (errno: Int32, count: Int)]>([:])

    static func force(_ call: Call, errno: Int32, count: Int = 1) {
        pending.withLock { $0[call] = (errno, count) }
    }

    static func reset() { pending.withLock { $0.removeAll() } }

    static func take(_ call: Call) -> SysError? {
        pending.withLock { table in
            guard let entry = table[call], entry.count > 0 else { return nil }
            table[call] = entry.count == 1 ? nil : (entry.errno, entry.count - 1)
            return SysError(entry.errno)
        }
    }
}
