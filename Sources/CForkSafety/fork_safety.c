/*
 * Keeps the provider usable in the child of a fork().
 *
 * The Swift runtime's Linux locks are priority-inheritance futexes that store the owner's
 * thread id, which the runtime caches per thread (`ulock_get_tid`'s `static __thread int tid`).
 * A child of fork() inherits the parent's cached id for its one thread, so its first contended
 * lock stores a thread id that does not exist in the child: the kernel then refuses the
 * unlock and two threads of the child hang in the runtime (seen as a deadlock between a
 * switch thread and the progress engine). Clearing the cache in the child makes the runtime
 * ask the kernel for the child's real thread id.
 *
 * The cache is a weak symbol of the statically linked runtime; where it is not linked in
 * (a build against the shared Swift runtime) the handler does nothing.
 */
#include <pthread.h>
#include <stddef.h>

extern __thread int _ZZN5swift14threading_impl5linux13ulock_get_tidEvE3tid
    __attribute__((weak, visibility("hidden"), tls_model("local-dynamic")));

static void sanwsp_fork_child(void) {
    if (&_ZZN5swift14threading_impl5linux13ulock_get_tidEvE3tid != NULL)
        _ZZN5swift14threading_impl5linux13ulock_get_tidEvE3tid = 0;
}

__attribute__((constructor, visibility("hidden")))
static void sanwsp_fork_safety_install(void) {
    pthread_atfork(NULL, NULL, sanwsp_fork_child);
}
