import Glibc
import Synchronization

/// Test hook for the engine's seam: forces the next `times` calls of a syscall made *on the
/// calling thread* to fail with a chosen errno, without calling into the kernel (close still
/// closes). Faults are per thread because tests run in parallel: a fault armed by one test must
/// not be consumed by another test's loop. To fault the loop thread, arm it from `execute`.
enum EngineSyscallFaults {
    private struct Key: Hashable {
        let thread: pthread_t
        let call: SystemCall
    }

    private struct Pending {
        var errno: Int32
        var remaining: Int
    }

    private static let table = Mutex<[Key: Pending]>([:])
    /// Number of armed entries; lets production calls skip the lock with one relaxed load.
    private static let armed = Atomic<Int>(0)

    static func inject(_ call: SystemCall, errno: Int32, times: Int = 1) {
        let key = Key(thread: pthread_self(), call: call)
        table.withLock { table in
            table[key] = times > 0 ? Pending(errno: errno, remaining: times) : nil
            armed.store(table.count, ordering: .relaxed)
        }
    }

    /// How many forced failures of `call` the calling thread has not consumed yet.
    static func remaining(_ call: SystemCall) -> Int {
        let key = Key(thread: pthread_self(), call: call)
        return table.withLock { $0[key]?.remaining ?? 0 }
    }

    /// Disarms every fault of the calling thread.
    static func clear() {
        let thread = pthread_self()
        table.withLock { table in
            table = table.filter { $0.key.thread != thread }
            armed.store(table.count, ordering: .relaxed)
        }
    }

    /// Consumes one forced failure of `call` for the calling thread, if armed.
    static func take(_ call: SystemCall) -> Int32? {
        guard armed.load(ordering: .relaxed) > 0 else { return nil }
        let key = Key(thread: pthread_self(), call: call)
        return table.withLock { table in
            guard var pending = table[key] else { return nil }
            pending.remaining -= 1
            table[key] = pending.remaining > 0 ? pending : nil
            armed.store(table.count, ordering: .relaxed)
            return pending.errno
        }
    }
}
