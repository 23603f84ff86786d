/* test_pair.h — the two-process set-up shared by the switch's tests: a child process that
 * accepts one connection through the switch, and the parent connected to it. */
#ifndef SW_TEST_PAIR_H
#define SW_TEST_PAIR_H

#include "test_util.h" /* first: it defines _GNU_SOURCE */
#include "sw.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Child side: sw_init, listen on 127.0.0.1:port, tell the parent it listens (ready_fd), accept
 * one connection. NULL on failure, with *code set to an exit status for the child (10-13). */
static inline sw_socket *t_accept_one(unsigned short port, int ready_fd, int *code)
{
    *code = 10;
    if (sw_init(NULL) != 0)
        return NULL;
    *code = 11;
    sw_socket *l = sw_listen("127.0.0.1", port, 4);
    if (!l)
        return NULL;
    char c = 1;
    *code = 12;
    if (write(ready_fd, &c, 1) != 1)
        return NULL;
    *code = 13;
    sw_socket *s = sw_accept(l);
    sw_close(l);
    return s;
}

/* Parent side: forks a child that runs child(port, ready_fd, arg) and exits with its result,
 * waits until it listens, then sw_init + sw_connect. Returns the connection; NULL (CHECK failed,
 * child killed and reaped) on failure. *pid is the child's. */
static inline sw_socket *t_fork_and_connect(int (*child)(unsigned short, int, void *), void *arg,
                                            pid_t *pid)
{
    unsigned short port = t_port();
    int p[2];
    *pid = -1;
    if (pipe(p) != 0) {
        CHECK(0);
        return NULL;
    }
    *pid = fork();
    if (*pid == 0) {
        close(p[0]);
        _exit(child(port, p[1], arg));
    }
    close(p[1]);
    char c;
    CHECK_EQ(read(p[0], &c, 1), 1);
    close(p[0]);
    CHECK_EQ(sw_init(NULL), 0);
    sw_socket *s = sw_connect("127.0.0.1", port);
    CHECK(s != NULL);
    if (!s) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
    }
    return s;
}

/* Parent side, at the end: no protocol errors on this side (`st`), the connection closes
 * cleanly and the child exits 0. */
static inline void t_close_pair(sw_socket *s, const sw_stats *st, pid_t pid)
{
    CHECK_EQ(st->msgsize_errors, 0);
    CHECK_EQ(st->seq_errors, 0);
    CHECK_EQ(st->credit_violations, 0);
    CHECK_EQ(sw_close(s), 0);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        fprintf(stderr, "child status %#x\n", status);
}

#endif
