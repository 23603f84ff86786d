import CSystem
import Glibc
import WinSock

/// The WSAOVERLAPPED protocol of spec §1.9: Internal = WSS_OPERATION_IN_PROGRESS while pending;
/// at completion Offset = flags, OffsetHigh = Winsock error, InternalHigh = bytes, and, when the
/// provider itself finishes the structure (hEvent bit 0 set), Internal last with release order.
enum Overlapped {
    static let inProgress = UInt(WSS_OPERATION_IN_PROGRESS)

    static func start(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, flags: DWORD, total: Int) {
        ov.pointee.Offset = flags
        ov.pointee.OffsetHigh = 0
        ov.pointee.InternalHigh = UInt(total)
        internalPointer(ov).pointee = inProgress
    }

    static func finishFields(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, error: Int32, bytes: Int,
                             flags: DWORD) {
        ov.pointee.Offset = flags
        ov.pointee.OffsetHigh = DWORD(bitPattern: error)
        ov.pointee.InternalHigh = UInt(bytes)
    }

    /// Marks the structure complete (for operations the switch polls: no upcall).
    static func markDone(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, error: Int32) {
        sanwsp_store_release_uptr(internalPointer(ov), UInt(bitPattern: Int(error)))
    }

    static func isPending(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) -> Bool {
        sanwsp_load_acquire_uptr(internalPointer(ov)) == inProgress
    }

    /// hEvent bit 0: the switch wants no completion notification.
    static func wantsNoNotification(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) -> Bool {
        UInt(bitPattern: ov.pointee.hEvent) & 1 == 1
    }

    private static func internalPointer(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>)
        -> UnsafeMutablePointer<UInt>
    {
        UnsafeMutableRawPointer(ov).assumingMemoryBound(to: UInt.self)
    }
}

/// Wakes threads blocked in WSPGetOverlappedResult(fWait = TRUE) when a completion lands.
final class CompletionSignal: @unchecked Sendable {
    // @unchecked: the pthread objects are only touched through pthread calls; `waiters` is
    // read racily only as a hint and always re-checked under the mutex.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var waiters = 0

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    func notify() {
        pthread_mutex_lock(mutex)
        if waiters > 0 { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(mutex)
    }

    /// Waits until `done()` holds (checked under the mutex, so no wake-up is lost).
    func wait(until done: () -> Bool) {
        pthread_mutex_lock(mutex)
        waiters += 1
        while !done() {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            deadline.tv_nsec += 50_000_000
            if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
            pthread_cond_timedwait(condition, mutex, &deadline)
        }
        waiters -= 1
        pthread_mutex_unlock(mutex)
    }
}
