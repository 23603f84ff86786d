/*
 * ws2san.h — Windows Sockets Direct (SAN) additions for sanwsp: WSPStartupEx, the extended upcall
 * table, the seven SAN extension functions with their GUIDs, SAN socket options and MEM_* flags.
 * Types, widths and naming rules as in ws2spi.h (see docs/ABI.md).
 */
#ifndef SANWSP_WS2SAN_H
#define SANWSP_WS2SAN_H

#include "ws2spi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SAN socket options (level WS_SOL_SOCKET) */
#define WS_SO_MAX_RDMA_SIZE        0x700D
#define WS_SO_RDMA_THRESHOLD_SIZE  0x700E

/* WSPRegisterMemory / WSPRegisterRdmaMemory access flags */
#define MEM_READ      1
#define MEM_WRITE     2
#define MEM_READWRITE 3

/* Local buffer of an RDMA operation: a WSABUF plus the handle from WSPRegisterMemory. */
typedef struct _WSABUFEX {
    ULONG  len;
    char FAR *buf;
    HANDLE handle;
} WSABUFEX, FAR *LPWSABUFEX;

/* Extension GUIDs, as initializers (compare GUID bytes with memcmp). */
#define WSAID_REGISTERMEMORY \
    {0xC0B422F5, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_DEREGISTERMEMORY \
    {0xC0B422F6, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_REGISTERRDMAMEMORY \
    {0xC0B422F7, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_DEREGISTERRDMAMEMORY \
    {0xC0B422F8, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_RDMAWRITE \
    {0xC0B422F9, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_RDMAREAD \
    {0xC0B422FA, 0xF58C, 0x11d1, {0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D}}
#define WSAID_MEMORYREGISTRATIONCACHECALLBACK \
    {0xE5DA4AF8, 0xD824, 0x48CD, {0xA7, 0x99, 0x63, 0x37, 0xA9, 0x8E, 0xD2, 0xAF}}

/* Extension function types */
typedef HANDLE (WSPAPI *LPFN_WSPREGISTERMEMORY)(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength,
        DWORD dwFlags, LPINT lpErrno);
typedef int (WSPAPI *LPFN_WSPDEREGISTERMEMORY)(SOCKET s, HANDLE Handle, LPINT lpErrno);
/* The SDK's typedef says BOOL and its prototype int: the same 32-bit int; 0 means success. */
typedef int (WSPAPI *LPFN_WSPREGISTERRDMAMEMORY)(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength,
        DWORD dwFlags, LPVOID lpRdmaBufferDescriptor, LPDWORD lpdwDescriptorLength,
        LPINT lpErrno);
typedef int (WSPAPI *LPFN_WSPDEREGISTERRDMAMEMORY)(SOCKET s, LPVOID lpRdmaBufferDescriptor,
        DWORD dwDescriptorLength, LPINT lpErrno);
typedef int (WSPAPI *LPFN_WSPRDMAWRITE)(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
        LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
        DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesWritten, DWORD dwFlags,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (WSPAPI *LPFN_WSPRDMAREAD)(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
        LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
        DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesRead, DWORD dwFlags,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (WSPAPI *LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK)(LPVOID lpvAddress, SIZE_T Size,
        LPINT lpErrno);

/* Extended upcall table: WSPUPCALLTABLE plus WPUCompleteOverlappedRequest. */
typedef int (WSPAPI *LPWPUCOMPLETEOVERLAPPEDREQUEST)(SOCKET s, LPWSAOVERLAPPED lpOverlapped,
        DWORD dwError, DWORD cbTransferred, LPINT lpErrno);

typedef struct _WSPUPCALLTABLEEX {
    LPWPUCLOSEEVENT               lpWPUCloseEvent;
    LPWPUCLOSESOCKETHANDLE        lpWPUCloseSocketHandle;
    LPWPUCREATEEVENT              lpWPUCreateEvent;
    LPWPUCREATESOCKETHANDLE       lpWPUCreateSocketHandle;
    LPWPUFDISSET                  lpWPUFDIsSet;
    LPWPUGETPROVIDERPATH          lpWPUGetProviderPath;
    LPWPUMODIFYIFSHANDLE          lpWPUModifyIFSHandle;
    LPWPUPOSTMESSAGE              lpWPUPostMessage;
    LPWPUQUERYBLOCKINGCALLBACK    lpWPUQueryBlockingCallback;
    LPWPUQUERYSOCKETHANDLECONTEXT lpWPUQuerySocketHandleContext;
    LPWPUQUEUEAPC                 lpWPUQueueApc;
    LPWPURESETEVENT               lpWPUResetEvent;
    LPWPUSETEVENT                 lpWPUSetEvent;
    LPWPUOPENCURRENTTHREAD        lpWPUOpenCurrentThread;
    LPWPUCLOSETHREAD              lpWPUCloseThread;
    LPWPUCOMPLETEOVERLAPPEDREQUEST lpWPUCompleteOverlappedRequest;
} WSPUPCALLTABLEEX, FAR *LPWSPUPCALLTABLEEX;

typedef int (WSPAPI *LPWSPSTARTUPEX)(WORD wVersionRequested, LPWSPDATA lpWSPData,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSPUPCALLTABLEEX lpUpcallTable,
        LPWSPPROC_TABLE lpProcTable);

/* Exported by the provider. WSPStartupEx is what a switch looks up with dlsym. */
int WSPAPI WSPStartupEx(WORD wVersionRequested, LPWSPDATA lpWSPData,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSPUPCALLTABLEEX lpUpcallTable,
        LPWSPPROC_TABLE lpProcTable);
HANDLE WSPAPI WSPRegisterMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
        LPINT lpErrno);
int WSPAPI WSPDeregisterMemory(SOCKET s, HANDLE Handle, LPINT lpErrno);
int WSPAPI WSPRegisterRdmaMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
        LPVOID lpRdmaBufferDescriptor, LPDWORD lpdwDescriptorLength, LPINT lpErrno);
int WSPAPI WSPDeregisterRdmaMemory(SOCKET s, LPVOID lpRdmaBufferDescriptor,
        DWORD dwDescriptorLength, LPINT lpErrno);
int WSPAPI WSPRdmaWrite(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
        LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
        DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesWritten, DWORD dwFlags,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
int WSPAPI WSPRdmaRead(SOCKET s, LPWSABUFEX lpBuffers, DWORD dwBufferCount,
        LPVOID lpTargetBufferDescriptor, DWORD dwTargetDescriptorLength,
        DWORD dwTargetBufferOffset, LPDWORD lpdwNumberOfBytesRead, DWORD dwFlags,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
int WSPAPI WSPMemoryRegistrationCacheCallback(LPVOID lpvAddress, SIZE_T Size, LPINT lpErrno);

#if defined(__LP64__)
SANWSP_STATIC_ASSERT(sizeof(WSABUFEX) == 24, wsabufex_size);
SANWSP_STATIC_ASSERT(offsetof(WSABUFEX, handle) == 16, wsabufex_handle);
SANWSP_STATIC_ASSERT(sizeof(WSPUPCALLTABLEEX) == 128, upcall_table_ex_size);
#endif

#ifdef __cplusplus
}
#endif
#endif /* SANWSP_WS2SAN_H */
