/*
 * test_layout.c — sizes, offsets, constant values and GUID bytes of the public headers against
 * docs/ABI.md and the spec (§4). Needs only the headers.
 */
#include "test_switch.h"

#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#define SIZE(T, n)                                                                                 \
    do {                                                                                           \
        printf("  sizeof(%s) = %zu\n", #T, sizeof(T));                                             \
        CHECK_EQ_INT(sizeof(T), n);                                                                \
    } while (0)
#define OFF(T, f, n) CHECK_EQ_INT(offsetof(T, f), n)
#define VAL(c, v) CHECK_EQ_INT((long long)(c), (long long)(v))

static void sizes(void)
{
    SIZE(GUID, 16);
    SIZE(WSABUF, 16);
    SIZE(WSABUFEX, 24);
    SIZE(FLOWSPEC, 32);
    SIZE(QOS, 80);
    SIZE(WSANETWORKEVENTS, 44);
    SIZE(WSAOVERLAPPED, 32);
    SIZE(WSAPROTOCOLCHAIN, 32);
    SIZE(WSAPROTOCOL_INFOW, 628);
    SIZE(WSPDATA, 516);
    SIZE(WSATHREADID, 16);
    SIZE(SOCKET_ADDRESS, 16);
    SIZE(SOCKET_ADDRESS_LIST, 24);
    SIZE(WS_fd_set, 520);
    SIZE(struct WS_timeval, 8);
    SIZE(WSPPROC_TABLE, 240);
    SIZE(WSPUPCALLTABLE, 120);
    SIZE(WSPUPCALLTABLEEX, 128);
    SIZE(SOCKET, 8);
    SIZE(WSAEVENT, 8);
    SIZE(DWORD, 4);
    SIZE(LONG, 4);
    SIZE(ULONG, 4);
    SIZE(BOOL, 4);
    SIZE(WCHAR, 2);
    SIZE(WORD, 2);
    SIZE(GROUP, 4);
    SIZE(DWORD_PTR, 8);
    SIZE(SIZE_T, 8);
    SIZE(struct sockaddr_in, 16);
    SIZE(struct sockaddr_in6, 28);
    CHECK_EQ_INT(_Alignof(GUID), 4);
    CHECK_EQ_INT(_Alignof(WSAPROTOCOL_INFOW), 4);
    CHECK(INVALID_SOCKET == (SOCKET)0xFFFFFFFFFFFFFFFFull);
    VAL(SOCKET_ERROR, -1);
}

static void offsets(void)
{
    OFF(GUID, Data2, 4);
    OFF(GUID, Data3, 6);
    OFF(GUID, Data4, 8);
    OFF(WSABUF, len, 0);
    OFF(WSABUF, buf, 8);
    OFF(WSABUFEX, buf, 8);
    OFF(WSABUFEX, handle, 16);
    OFF(FLOWSPEC, ServiceType, 20);
    OFF(FLOWSPEC, MinimumPolicedSize, 28);
    OFF(QOS, ReceivingFlowspec, 32);
    OFF(QOS, ProviderSpecific, 64);
    OFF(WSANETWORKEVENTS, iErrorCode, 4);
    OFF(WSAOVERLAPPED, Internal, 0);
    OFF(WSAOVERLAPPED, InternalHigh, 8);
    OFF(WSAOVERLAPPED, Offset, 16);
    OFF(WSAOVERLAPPED, OffsetHigh, 20);
    OFF(WSAOVERLAPPED, Pointer, 16);
    OFF(WSAOVERLAPPED, hEvent, 24);
    OFF(WSAPROTOCOLCHAIN, ChainEntries, 4);
    OFF(WSAPROTOCOL_INFOW, dwServiceFlags1, 0);
    OFF(WSAPROTOCOL_INFOW, dwServiceFlags2, 4);
    OFF(WSAPROTOCOL_INFOW, dwServiceFlags3, 8);
    OFF(WSAPROTOCOL_INFOW, dwServiceFlags4, 12);
    OFF(WSAPROTOCOL_INFOW, dwProviderFlags, 16);
    OFF(WSAPROTOCOL_INFOW, ProviderId, 20);
    OFF(WSAPROTOCOL_INFOW, dwCatalogEntryId, 36);
    OFF(WSAPROTOCOL_INFOW, ProtocolChain, 40);
    OFF(WSAPROTOCOL_INFOW, iVersion, 72);
    OFF(WSAPROTOCOL_INFOW, iAddressFamily, 76);
    OFF(WSAPROTOCOL_INFOW, iMaxSockAddr, 80);
    OFF(WSAPROTOCOL_INFOW, iMinSockAddr, 84);
    OFF(WSAPROTOCOL_INFOW, iSocketType, 88);
    OFF(WSAPROTOCOL_INFOW, iProtocol, 92);
    OFF(WSAPROTOCOL_INFOW, iProtocolMaxOffset, 96);
    OFF(WSAPROTOCOL_INFOW, iNetworkByteOrder, 100);
    OFF(WSAPROTOCOL_INFOW, iSecurityScheme, 104);
    OFF(WSAPROTOCOL_INFOW, dwMessageSize, 108);
    OFF(WSAPROTOCOL_INFOW, dwProviderReserved, 112);
    OFF(WSAPROTOCOL_INFOW, szProtocol, 116);
    OFF(WSPDATA, wHighVersion, 2);
    OFF(WSPDATA, szDescription, 4);
    OFF(WSATHREADID, Reserved, 8);
    OFF(SOCKET_ADDRESS, iSockaddrLength, 8);
    OFF(SOCKET_ADDRESS_LIST, Address, 8);
    OFF(WS_fd_set, fd_array, 8);
    OFF(struct WS_timeval, tv_usec, 4);

#define SLOT(f, i) OFF(WSPPROC_TABLE, f, (i) * 8)
    SLOT(lpWSPAccept, 0);
    SLOT(lpWSPAddressToString, 1);
    SLOT(lpWSPAsyncSelect, 2);
    SLOT(lpWSPBind, 3);
    SLOT(lpWSPCancelBlockingCall, 4);
    SLOT(lpWSPCleanup, 5);
    SLOT(lpWSPCloseSocket, 6);
    SLOT(lpWSPConnect, 7);
    SLOT(lpWSPDuplicateSocket, 8);
    SLOT(lpWSPEnumNetworkEvents, 9);
    SLOT(lpWSPEventSelect, 10);
    SLOT(lpWSPGetOverlappedResult, 11);
    SLOT(lpWSPGetPeerName, 12);
    SLOT(lpWSPGetSockName, 13);
    SLOT(lpWSPGetSockOpt, 14);
    SLOT(lpWSPGetQOSByName, 15);
    SLOT(lpWSPIoctl, 16);
    SLOT(lpWSPJoinLeaf, 17);
    SLOT(lpWSPListen, 18);
    SLOT(lpWSPRecv, 19);
    SLOT(lpWSPRecvDisconnect, 20);
    SLOT(lpWSPRecvFrom, 21);
    SLOT(lpWSPSelect, 22);
    SLOT(lpWSPSend, 23);
    SLOT(lpWSPSendDisconnect, 24);
    SLOT(lpWSPSendTo, 25);
    SLOT(lpWSPSetSockOpt, 26);
    SLOT(lpWSPShutdown, 27);
    SLOT(lpWSPSocket, 28);
    SLOT(lpWSPStringToAddress, 29);
#undef SLOT

#define UP(f, i)                                                                                   \
    OFF(WSPUPCALLTABLEEX, f, (i) * 8);                                                             \
    if ((i) < 15)                                                                                  \
    OFF(WSPUPCALLTABLE, f, (i) * 8)
    UP(lpWPUCloseEvent, 0);
    UP(lpWPUCloseSocketHandle, 1);
    UP(lpWPUCreateEvent, 2);
    UP(lpWPUCreateSocketHandle, 3);
    UP(lpWPUFDIsSet, 4);
    UP(lpWPUGetProviderPath, 5);
    UP(lpWPUModifyIFSHandle, 6);
    UP(lpWPUPostMessage, 7);
    UP(lpWPUQueryBlockingCallback, 8);
    UP(lpWPUQuerySocketHandleContext, 9);
    UP(lpWPUQueueApc, 10);
    UP(lpWPUResetEvent, 11);
    UP(lpWPUSetEvent, 12);
    UP(lpWPUOpenCurrentThread, 13);
    UP(lpWPUCloseThread, 14);
#undef UP
    OFF(WSPUPCALLTABLEEX, lpWPUCompleteOverlappedRequest, 120);
}

static void constants(void)
{
    static const struct {
        long long got, want;
        const char *name;
    } t[] = {
#define C(name, v) { (long long)(name), (long long)(v), #name }
        C(WSABASEERR, 10000), C(WSAEINTR, 10004), C(WSAEBADF, 10009), C(WSAEACCES, 10013),
        C(WSAEFAULT, 10014), C(WSAEINVAL, 10022), C(WSAEMFILE, 10024),
        C(WSAEWOULDBLOCK, 10035), C(WSAEINPROGRESS, 10036), C(WSAEALREADY, 10037),
        C(WSAENOTSOCK, 10038), C(WSAEDESTADDRREQ, 10039), C(WSAEMSGSIZE, 10040),
        C(WSAEPROTOTYPE, 10041), C(WSAENOPROTOOPT, 10042), C(WSAEPROTONOSUPPORT, 10043),
        C(WSAESOCKTNOSUPPORT, 10044), C(WSAEOPNOTSUPP, 10045), C(WSAEPFNOSUPPORT, 10046),
        C(WSAEAFNOSUPPORT, 10047), C(WSAEADDRINUSE, 10048), C(WSAEADDRNOTAVAIL, 10049),
        C(WSAENETDOWN, 10050), C(WSAENETUNREACH, 10051), C(WSAENETRESET, 10052),
        C(WSAECONNABORTED, 10053), C(WSAECONNRESET, 10054), C(WSAENOBUFS, 10055),
        C(WSAEISCONN, 10056), C(WSAENOTCONN, 10057), C(WSAESHUTDOWN, 10058),
        C(WSAETOOMANYREFS, 10059), C(WSAETIMEDOUT, 10060), C(WSAECONNREFUSED, 10061),
        C(WSAELOOP, 10062), C(WSAENAMETOOLONG, 10063), C(WSAEHOSTDOWN, 10064),
        C(WSAEHOSTUNREACH, 10065), C(WSAENOTEMPTY, 10066), C(WSAEPROCLIM, 10067),
        C(WSAEUSERS, 10068), C(WSAEDQUOT, 10069), C(WSAESTALE, 10070), C(WSAEREMOTE, 10071),
        C(WSASYSNOTREADY, 10091), C(WSAVERNOTSUPPORTED, 10092), C(WSANOTINITIALISED, 10093),
        C(WSAEDISCON, 10101), C(WSAENOMORE, 10102), C(WSAECANCELLED, 10103),
        C(WSAEINVALIDPROCTABLE, 10104), C(WSAEINVALIDPROVIDER, 10105),
        C(WSAEPROVIDERFAILEDINIT, 10106), C(WSASYSCALLFAILURE, 10107),
        C(WSASERVICE_NOT_FOUND, 10108), C(WSATYPE_NOT_FOUND, 10109), C(WSA_E_NO_MORE, 10110),
        C(WSA_E_CANCELLED, 10111), C(WSAEREFUSED, 10112), C(WSAHOST_NOT_FOUND, 11001),
        C(WSATRY_AGAIN, 11002), C(WSANO_RECOVERY, 11003), C(WSANO_DATA, 11004),
        C(WSA_QOS_RECEIVERS, 11005), C(WSA_QOS_RESERVED_PETYPE, 11031),
        C(WSA_INVALID_HANDLE, 6), C(WSA_NOT_ENOUGH_MEMORY, 8), C(WSA_INVALID_PARAMETER, 87),
        C(WSA_OPERATION_ABORTED, 995), C(WSA_IO_INCOMPLETE, 996), C(WSA_IO_PENDING, 997),
        C(WSS_OPERATION_IN_PROGRESS, 0x103),
        /* network events */
        C(FD_READ, 0x1), C(FD_WRITE, 0x2), C(FD_OOB, 0x4), C(FD_ACCEPT, 0x8),
        C(FD_CONNECT, 0x10), C(FD_CLOSE, 0x20), C(FD_QOS, 0x40), C(FD_GROUP_QOS, 0x80),
        C(FD_ROUTING_INTERFACE_CHANGE, 0x100), C(FD_ADDRESS_LIST_CHANGE, 0x200),
        C(FD_ACCEPT_BIT, 3), C(FD_CONNECT_BIT, 4), C(FD_CLOSE_BIT, 5), C(FD_MAX_EVENTS, 10),
        C(FD_ALL_EVENTS, 0x3FF),
        /* ioctls */
        C(IOC_INOUT, 0xC0000000u), C(SIO_GET_EXTENSION_FUNCTION_POINTER, 0xC8000006u),
        C(SIO_ADDRESS_LIST_QUERY, 0x48000016u), C(SIO_ADDRESS_LIST_CHANGE, 0x28000017u),
        C(SIO_GET_QOS, 0xC8000007u), C(SIO_SET_QOS, 0x8800000Bu),
        C(SIO_ROUTING_INTERFACE_QUERY, 0xC8000014u), C(SIO_ADDRESS_LIST_SORT, 0xC8000019u),
        C(WS_FIONBIO, 0x8004667Eu), C(WS_FIONREAD, 0x4004667Fu),
        C(_WSAIORW(IOC_WS2, 6), 0xC8000006u), C(_WSAIOR(IOC_WS2, 22), 0x48000016u),
        C(_WSAIO(IOC_WS2, 23), 0x28000017u),
        /* socket options */
        C(WS_SOL_SOCKET, 0xFFFF), C(IPPROTO_TCP, 6), C(WS_TCP_NODELAY, 1), C(WS_SO_DEBUG, 1),
        C(WS_SO_ACCEPTCONN, 2), C(WS_SO_REUSEADDR, 4), C(WS_SO_KEEPALIVE, 8),
        C(WS_SO_LINGER, 0x80), C(WS_SO_OOBINLINE, 0x100), C(WS_SO_SNDBUF, 0x1001),
        C(WS_SO_RCVBUF, 0x1002), C(WS_SO_SNDTIMEO, 0x1005), C(WS_SO_RCVTIMEO, 0x1006),
        C(WS_SO_ERROR, 0x1007), C(WS_SO_TYPE, 0x1008), C(WS_SO_GROUP_ID, 0x2001),
        C(WS_SO_GROUP_PRIORITY, 0x2002), C(WS_SO_MAX_MSG_SIZE, 0x2003),
        C(WS_SO_PROTOCOL_INFOW, 0x2005), C(WS_SO_CONDITIONAL_ACCEPT, 0x3002),
        C(WS_SO_CONNECT_TIME, 0x700C), C(WS_SO_MAX_RDMA_SIZE, 0x700D),
        C(WS_SO_RDMA_THRESHOLD_SIZE, 0x700E), C(WS_SO_UPDATE_CONNECT_CONTEXT, 0x7010),
        C(WS_SOMAXCONN, 0x7FFFFFFF), C(WS_SO_DONTLINGER, ~0x80), C(WS_SO_EXCLUSIVEADDRUSE, ~4),
        /* misc */
        C(AF_INET, 2), C(AF_INET6, 10), C(SOCK_STREAM, 1), C(WSA_FLAG_OVERLAPPED, 1),
        C(WSA_FLAG_MULTIPOINT_C_ROOT, 2), C(WSA_FLAG_MULTIPOINT_D_LEAF, 0x10),
        C(WSA_FLAG_NO_HANDLE_INHERIT, 0x80), C(MEM_READ, 1), C(MEM_WRITE, 2),
        C(MEM_READWRITE, 3), C(CF_ACCEPT, 0), C(CF_REJECT, 1), C(CF_DEFER, 2),
        C(SD_RECEIVE, 0), C(SD_SEND, 1), C(SD_BOTH, 2), C(WS_MSG_OOB, 1), C(WS_MSG_PEEK, 2),
        C(WS_MSG_PARTIAL, 0x8000), C(MAX_PROTOCOL_CHAIN, 7), C(BASE_PROTOCOL, 1),
        C(WSAPROTOCOL_LEN, 255), C(WSPDESCRIPTION_LEN, 255), C(LITTLEENDIAN, 1),
        C(FROM_PROTOCOL_INFO, -1), C(WS_FD_SETSIZE, 64), C(XP1_GUARANTEED_DELIVERY, 2),
        C(XP1_GUARANTEED_ORDER, 4), C(XP1_MESSAGE_ORIENTED, 8), C(XP1_GRACEFUL_CLOSE, 0x20),
        C(XP1_IFS_HANDLES, 0x20000), C(XP1_SAN_SUPPORT_SDP, 0x80000), C(PFL_HIDDEN, 4),
        C(PFL_NETWORKDIRECT_PROVIDER, 0x10), C(QOS_NOT_SPECIFIED, 0xFFFFFFFFu),
        C(MAKEWORD(2, 2), 0x0202), C(MAKEWORD(2, 1), 0x0102), C(LOBYTE(0x0302), 2),
        C(HIBYTE(0x0302), 3), C(WSA_MAXIMUM_WAIT_EVENTS, 64), C(WSA_INFINITE, 0xFFFFFFFFu),
        C(WSA_WAIT_EVENT_0, 0), C(WSA_WAIT_TIMEOUT, 0x102), C(WSA_WAIT_FAILED, 0xFFFFFFFFu),
        C(WSA_WAIT_IO_COMPLETION, 0xC0),
#undef C
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (t[i].got != t[i].want)
            fprintf(stderr, "  %s = %lld, expected %lld\n", t[i].name, t[i].got, t[i].want);
        CHECK_EQ_INT(t[i].got, t[i].want);
    }
    CHECK(WSA_INVALID_EVENT == NULL);
}

static void guids(void)
{
    static const struct {
        GUID g;
        unsigned char bytes[16];
    } t[] = {
        { WSAID_REGISTERMEMORY, { 0xF5, 0x22, 0xB4, 0xC0, 0x8C, 0xF5, 0xD1, 0x11, 0xAD, 0x6C, 0x00,
                                  0xC0, 0x4F, 0xA3, 0x4A, 0x2D } },
        { WSAID_DEREGISTERMEMORY, { 0xF6, 0x22, 0xB4, 0xC0, 0x8C, 0xF5, 0xD1, 0x11, 0xAD, 0x6C,
                                    0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D } },
        { WSAID_REGISTERRDMAMEMORY, { 0xF7, 0x22, 0xB4, 0xC0, 0x8C, 0xF5, 0xD1, 0x11, 0xAD, 0x6C,
                                      0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D } },
        { WSAID_DEREGISTERRDMAMEMORY, { 0xF8, 0x22, 0xB4, 0xC0, 0x8C, 0xF5, 0xD1, 0x11, 0xAD,
                                        0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D } },
        { WSAID_RDMAWRITE, { 0xF9, 0x22, 0xB4, 0xC0, 0x8C, 0xF5, 0xD1, 0x11, 0xAD, 0x6C, 0x00,
                             0xC0, 0x4F, 0xA3, 0x4A, 0x2D } },
        { WSAID_RDMAREAD, { 0xFA, 0x22, 0xB4, 0xC0, 0x8C, 0xF5, 0xD1, 0x11, 0xAD, 0x6C, 0x00,
                            0xC0, 0x4F, 0xA3, 0x4A, 0x2D } },
        { WSAID_MEMORYREGISTRATIONCACHECALLBACK,
          { 0xF8, 0x4A, 0xDA, 0xE5, 0x24, 0xD8, 0xCD, 0x48, 0xA7, 0x99, 0x63, 0x37, 0xA9, 0x8E,
            0xD2, 0xAF } },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(memcmp(&t[i].g, t[i].bytes, 16) == 0);
}

int main(void)
{
    sizes();
    offsets();
    constants();
    guids();
    return t_summary();
}
