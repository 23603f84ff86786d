/*
 * test_switch.h — a minimal Winsock "switch" for the C tests (the provider's upcall table,
 * with counters), plus a tiny assertion helper.
 *
 * The switch hands out handles 0x5000, 0x5001, ... from WPUCreateSocketHandle, remembers the
 * (catalog id, context) of each, and checks every later upcall against that record. Its event
 * upcalls forward to the provider's own WSACreateEvent/WSASetEvent/... found with dlsym, so the
 * same switch serves the dlopen test (pass the dlopen handle) and the link tests (RTLD_DEFAULT).
 */
#ifndef SANWSP_TEST_SWITCH_H
#define SANWSP_TEST_SWITCH_H

#include "sanwsp.h"

/* ---- assertions --------------------------------------------------------------------------- */
void t_check(int ok, const char *expr, const char *file, int line);
void t_check_eq(long long a, long long b, const char *ea, const char *eb, const char *file,
                int line);
/* Prints "N passed, N failed" and returns the process exit status (0 only if nothing failed). */
int t_summary(void);
int t_failures(void);

#define CHECK(cond) t_check(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ_INT(a, b) t_check_eq((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)

/* ---- the switch ----------------------------------------------------------------------------- */
#define TS_HANDLE_BASE 0x5000u

typedef struct ts_counts {
    long create_socket_handle;   /* WPUCreateSocketHandle calls (successful or not) */
    long create_failed;          /* ... of which failed by injection */
    long close_socket_handle;    /* WPUCloseSocketHandle calls */
    long close_bad;              /* ... with a handle the switch never issued */
    long double_close;           /* ... with a handle already closed */
    long after_close;            /* any upcall naming a handle after its close */
    long complete_overlapped;    /* WPUCompleteOverlappedRequest calls */
    long query_context;          /* WPUQuerySocketHandleContext calls */
    long create_event, close_event, set_event, reset_event;
    long unsupported;            /* calls of the slots that fail with WSAEOPNOTSUPP */
} ts_counts;

/* lib: a dlopen handle, or RTLD_DEFAULT when libsanwsp is linked. Returns 0, -1 if the WSA*Event
 * symbols are missing (the event upcalls then fail with WSAEOPNOTSUPP). */
int ts_init(void *lib);
/* Fills a full WSPUPCALLTABLEEX / plain WSPUPCALLTABLE pointing at the switch. */
void ts_upcalls(WSPUPCALLTABLEEX *t);
void ts_upcalls_plain(WSPUPCALLTABLE *t);

void ts_get_counts(ts_counts *out);
/* Makes WPUCreateSocketHandle fail with `err` (0 = fail with lpErrno 0); ts_inject_clear stops it. */
void ts_inject_create_error(int err);
void ts_inject_clear(void);

/* The most recent record whose context is `ctx` (the provider's descriptor): fills the
 * switch handle, catalog id and how often it was closed. Returns 0 if found, -1 if not. */
int ts_find_by_context(DWORD_PTR ctx, SOCKET *handle, DWORD *catalog, int *closes);
/* Handles issued and not yet closed. */
long ts_live_handles(void);
/* The last (catalog id, context) passed to WPUCreateSocketHandle. */
void ts_last_create(DWORD *catalog, DWORD_PTR *ctx);

/* Helpers used by several tests. */
struct sockaddr_in ts_sin(const char *ip, unsigned short port);
struct sockaddr_in6 ts_sin6(const char *ip, unsigned short port);
int ts_count_fds(void);

#endif
