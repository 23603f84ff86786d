import Glibc

/// A one-shot result a thread can wait for: how a blocking WSPConnect waits for the progress
/// engine to finish the attempt.
final class Gate: @unchecked Sendable {
    // @unchecked: the pthread objects are only touched through pthread calls.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var result: Int32?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Sets the result (the first one wins) and wakes the waiter.
    func open(_ value: Int32) {
        pthread_mutex_lock(mutex)
        if result == nil { result = value }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait() -> Int32 {
        pthread_mutex_lock(mutex)
        while result == nil { pthread_cond_wait(condition, mutex) }
        let value = result!
        pthread_mutex_unlock(mutex)
        return value
    }
}
