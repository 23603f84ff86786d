/*
 * ws2spi.h — Winsock 2 service provider interface for sanwsp (Linux port).
 *
 * Windows names and numeric values; Windows type widths (DWORD/LONG are 32-bit, SOCKET is
 * pointer-sized, WCHAR is 16-bit). struct sockaddr, sockaddr_in and AF_* come from the platform
 * (<sys/socket.h>, <netinet/in.h>). Names that clash with Linux macros or types carry a WS_ prefix,
 * as Wine does (WS_SOL_SOCKET, WS_SO_*, WS_MSG_*, WS_fd_set, struct WS_timeval ...).
 * Calling convention: the platform's default (SysV on x86_64); WSPAPI and friends are empty.
 * See docs/ABI.md for every decision.
 */
#ifndef SANWSP_WS2SPI_H
#define SANWSP_WS2SPI_H

#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- calling-convention and annotation macros (empty: SysV everywhere) ------------------ */
#ifndef WSPAPI
#define WSPAPI
#endif
#ifndef WSAAPI
#define WSAAPI
#endif
#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef FAR
#define FAR
#endif

/* ---- Windows base types with Win64 widths ---------------------------------------------- */
#ifndef SANWSP_BASE_TYPES_DEFINED
#define SANWSP_BASE_TYPES_DEFINED
typedef uint8_t   BYTE;
typedef uint16_t  WORD;
typedef uint32_t  DWORD;
typedef int32_t   LONG;
typedef uint32_t  ULONG;
typedef int32_t   INT;
typedef uint32_t  UINT;
typedef int32_t   BOOL;
typedef uint16_t  WCHAR;           /* UTF-16 code unit, never wchar_t */
typedef char      CHAR;
typedef uint16_t  USHORT;
typedef uint8_t   UCHAR;
typedef void     *HANDLE;
typedef void     *PVOID;
typedef void     *LPVOID;
typedef uintptr_t UINT_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef uintptr_t SIZE_T;
typedef intptr_t  LONG_PTR;
typedef int      *LPINT;
typedef DWORD    *LPDWORD;
typedef DWORD    *PDWORD;
typedef DWORD_PTR *PDWORD_PTR;
typedef WCHAR    *LPWSTR;
typedef const WCHAR *LPCWSTR;
typedef char     *LPSTR;
typedef void     *HWND;
typedef uintptr_t WPARAM;
typedef intptr_t  LPARAM;
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#ifndef GUID_DEFINED
#define GUID_DEFINED
/* In-memory order: Data1..Data3 little-endian, Data4 as given. 16 bytes, align 4. */
typedef struct _GUID {
    DWORD Data1;
    WORD  Data2;
    WORD  Data3;
    BYTE  Data4[8];
} GUID;
#endif
typedef GUID *LPGUID;

typedef UINT_PTR SOCKET;
typedef HANDLE   WSAEVENT;
typedef WSAEVENT *LPWSAEVENT;
typedef unsigned int GROUP;
typedef ULONG    SERVICETYPE;

typedef struct sockaddr    SOCKADDR;
typedef struct sockaddr   *PSOCKADDR;
typedef struct sockaddr   *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN;
typedef struct sockaddr_in *LPSOCKADDR_IN;

#define INVALID_SOCKET ((SOCKET)~(SOCKET)0)
#define SOCKET_ERROR   (-1)

/* ---- error codes (WSABASEERR = 10000) ----------------------------------------------------- */
#define WSABASEERR              10000
#define WSAEINTR                10004
#define WSAEBADF                10009
#define WSAEACCES               10013
#define WSAEFAULT               10014
#define WSAEINVAL               10022
#define WSAEMFILE               10024
#define WSAEWOULDBLOCK          10035
#define WSAEINPROGRESS          10036
#define WSAEALREADY             10037
#define WSAENOTSOCK             10038
#define WSAEDESTADDRREQ         10039
#define WSAEMSGSIZE             10040
#define WSAEPROTOTYPE           10041
#define WSAENOPROTOOPT          10042
#define WSAEPROTONOSUPPORT      10043
#define WSAESOCKTNOSUPPORT      10044
#define WSAEOPNOTSUPP           10045
#define WSAEPFNOSUPPORT         10046
#define WSAEAFNOSUPPORT         10047
#define WSAEADDRINUSE           10048
#define WSAEADDRNOTAVAIL        10049
#define WSAENETDOWN             10050
#define WSAENETUNREACH          10051
#define WSAENETRESET            10052
#define WSAECONNABORTED         10053
#define WSAECONNRESET           10054
#define WSAENOBUFS              10055
#define WSAEISCONN              10056
#define WSAENOTCONN             10057
#define WSAESHUTDOWN            10058
#define WSAETOOMANYREFS         10059
#define WSAETIMEDOUT            10060
#define WSAECONNREFUSED         10061
#define WSAELOOP                10062
#define WSAENAMETOOLONG         10063
#define WSAEHOSTDOWN            10064
#define WSAEHOSTUNREACH         10065
#define WSAENOTEMPTY            10066
#define WSAEPROCLIM             10067
#define WSAEUSERS               10068
#define WSAEDQUOT               10069
#define WSAESTALE               10070
#define WSAEREMOTE              10071
#define WSASYSNOTREADY          10091
#define WSAVERNOTSUPPORTED      10092
#define WSANOTINITIALISED       10093
#define WSAEDISCON              10101
#define WSAENOMORE              10102
#define WSAECANCELLED           10103
#define WSAEINVALIDPROCTABLE    10104
#define WSAEINVALIDPROVIDER     10105
#define WSAEPROVIDERFAILEDINIT  10106
#define WSASYSCALLFAILURE       10107
#define WSASERVICE_NOT_FOUND    10108
#define WSATYPE_NOT_FOUND       10109
#define WSA_E_NO_MORE           10110
#define WSA_E_CANCELLED         10111
#define WSAEREFUSED             10112
#define WSAHOST_NOT_FOUND       11001
#define WSATRY_AGAIN            11002
#define WSANO_RECOVERY          11003
#define WSANO_DATA              11004
#define WSA_QOS_RECEIVERS       11005
#define WSA_QOS_SENDERS         11006
#define WSA_QOS_NO_SENDERS      11007
#define WSA_QOS_NO_RECEIVERS    11008
#define WSA_QOS_REQUEST_CONFIRMED 11009
#define WSA_QOS_ADMISSION_FAILURE 11010
#define WSA_QOS_POLICY_FAILURE  11011
#define WSA_QOS_BAD_STYLE       11012
#define WSA_QOS_BAD_OBJECT      11013
#define WSA_QOS_TRAFFIC_CTRL_ERROR 11014
#define WSA_QOS_GENERIC_ERROR   11015
#define WSA_QOS_ESERVICETYPE    11016
#define WSA_QOS_EFLOWSPEC       11017
#define WSA_QOS_EPROVSPECBUF    11018
#define WSA_QOS_EFILTERSTYLE    11019
#define WSA_QOS_EFILTERTYPE     11020
#define WSA_QOS_EFILTERCOUNT    11021
#define WSA_QOS_EOBJLENGTH      11022
#define WSA_QOS_EFLOWCOUNT      11023
#define WSA_QOS_EUNKOWNPSOBJ    11024
#define WSA_QOS_EPOLICYOBJ      11025
#define WSA_QOS_EFLOWDESC       11026
#define WSA_QOS_EPSFLOWSPEC     11027
#define WSA_QOS_EPSFILTERSPEC   11028
#define WSA_QOS_ESDMODEOBJ      11029
#define WSA_QOS_ESHAPERATEOBJ   11030
#define WSA_QOS_RESERVED_PETYPE 11031

/* Win32-based codes */
#define WSA_INVALID_HANDLE      6
#define WSA_NOT_ENOUGH_MEMORY   8
#define WSA_INVALID_PARAMETER   87
#define WSA_OPERATION_ABORTED   995
#define WSA_IO_INCOMPLETE       996
#define WSA_IO_PENDING          997
#define WSA_INVALID_EVENT       ((WSAEVENT)0)
#define WSS_OPERATION_IN_PROGRESS 0x00000103

/* ---- network events ------------------------------------------------------------------------ */
#define FD_READ_BIT                      0
#define FD_READ                          (1 << FD_READ_BIT)
#define FD_WRITE_BIT                     1
#define FD_WRITE                         (1 << FD_WRITE_BIT)
#define FD_OOB_BIT                       2
#define FD_OOB                           (1 << FD_OOB_BIT)
#define FD_ACCEPT_BIT                    3
#define FD_ACCEPT                        (1 << FD_ACCEPT_BIT)
#define FD_CONNECT_BIT                   4
#define FD_CONNECT                       (1 << FD_CONNECT_BIT)
#define FD_CLOSE_BIT                     5
#define FD_CLOSE                         (1 << FD_CLOSE_BIT)
#define FD_QOS_BIT                       6
#define FD_QOS                           (1 << FD_QOS_BIT)
#define FD_GROUP_QOS_BIT                 7
#define FD_GROUP_QOS                     (1 << FD_GROUP_QOS_BIT)
#define FD_ROUTING_INTERFACE_CHANGE_BIT  8
#define FD_ROUTING_INTERFACE_CHANGE      (1 << FD_ROUTING_INTERFACE_CHANGE_BIT)
#define FD_ADDRESS_LIST_CHANGE_BIT       9
#define FD_ADDRESS_LIST_CHANGE           (1 << FD_ADDRESS_LIST_CHANGE_BIT)
#define FD_MAX_EVENTS                    10
#define FD_ALL_EVENTS                    ((1 << FD_MAX_EVENTS) - 1)

/* ---- ioctl codes --------------------------------------------------------------------------- */
#define IOC_UNIX      0x00000000
#define IOC_WS2       0x08000000
#define IOC_PROTOCOL  0x10000000
#define IOC_VENDOR    0x18000000
#define IOC_VOID      0x20000000
#define IOC_OUT       0x40000000
#define IOC_IN        0x80000000u
#define IOC_INOUT     (IOC_IN | IOC_OUT)
#define _WSAIO(x, y)   (IOC_VOID | (x) | (y))
#define _WSAIOR(x, y)  (IOC_OUT | (x) | (y))
#define _WSAIOW(x, y)  (IOC_IN | (x) | (y))
#define _WSAIORW(x, y) (IOC_INOUT | (x) | (y))

#define SIO_ASSOCIATE_HANDLE              0x88000001u
#define SIO_ENABLE_CIRCULAR_QUEUEING      0x28000002u
#define SIO_FIND_ROUTE                    0x48000003u
#define SIO_FLUSH                         0x28000004u
#define SIO_GET_BROADCAST_ADDRESS         0x48000005u
#define SIO_GET_EXTENSION_FUNCTION_POINTER 0xC8000006u
#define SIO_GET_QOS                       0xC8000007u
#define SIO_GET_GROUP_QOS                 0xC8000008u
#define SIO_MULTIPOINT_LOOPBACK           0x88000009u
#define SIO_MULTICAST_SCOPE               0x8800000Au
#define SIO_SET_QOS                       0x8800000Bu
#define SIO_SET_GROUP_QOS                 0x8800000Cu
#define SIO_TRANSLATE_HANDLE              0xC800000Du
#define SIO_ROUTING_INTERFACE_QUERY       0xC8000014u
#define SIO_ROUTING_INTERFACE_CHANGE      0x88000015u
#define SIO_ADDRESS_LIST_QUERY            0x48000016u
#define SIO_ADDRESS_LIST_CHANGE           0x28000017u
#define SIO_QUERY_TARGET_PNP_HANDLE       0x48000018u
#define SIO_ADDRESS_LIST_SORT             0xC8000019u
#define WS_FIONBIO                        0x8004667Eu
#define WS_FIONREAD                       0x4004667Fu

/* ---- socket options and levels (WS_ prefix: Linux defines SOL_SOCKET/SO_* differently) ---- */
#define WS_SOL_SOCKET                 0xFFFF
#define WS_TCP_NODELAY                0x0001
#define WS_SO_DEBUG                   0x0001
#define WS_SO_ACCEPTCONN              0x0002
#define WS_SO_REUSEADDR               0x0004
#define WS_SO_KEEPALIVE               0x0008
#define WS_SO_DONTROUTE               0x0010
#define WS_SO_BROADCAST               0x0020
#define WS_SO_USELOOPBACK             0x0040
#define WS_SO_LINGER                  0x0080
#define WS_SO_OOBINLINE               0x0100
#define WS_SO_DONTLINGER              ((int)(~WS_SO_LINGER))
#define WS_SO_EXCLUSIVEADDRUSE        ((int)(~WS_SO_REUSEADDR))
#define WS_SO_SNDBUF                  0x1001
#define WS_SO_RCVBUF                  0x1002
#define WS_SO_SNDLOWAT                0x1003
#define WS_SO_RCVLOWAT                0x1004
#define WS_SO_SNDTIMEO                0x1005
#define WS_SO_RCVTIMEO                0x1006
#define WS_SO_ERROR                   0x1007
#define WS_SO_TYPE                    0x1008
#define WS_SO_GROUP_ID                0x2001
#define WS_SO_GROUP_PRIORITY          0x2002
#define WS_SO_MAX_MSG_SIZE            0x2003
#define WS_SO_PROTOCOL_INFOA          0x2004
#define WS_SO_PROTOCOL_INFOW          0x2005
#define WS_SO_CONDITIONAL_ACCEPT      0x3002
#define WS_SO_UPDATE_ACCEPT_CONTEXT   0x700B
#define WS_SO_CONNECT_TIME            0x700C
#define WS_SO_UPDATE_CONNECT_CONTEXT  0x7010
#define WS_SOMAXCONN                  0x7FFFFFFF

#define WS_MSG_OOB        0x1
#define WS_MSG_PEEK       0x2
#define WS_MSG_DONTROUTE  0x4
#define WS_MSG_PARTIAL    0x8000

#define SD_RECEIVE 0
#define SD_SEND    1
#define SD_BOTH    2

#define WSA_FLAG_OVERLAPPED             0x01
#define WSA_FLAG_MULTIPOINT_C_ROOT      0x02
#define WSA_FLAG_MULTIPOINT_C_LEAF      0x04
#define WSA_FLAG_MULTIPOINT_D_ROOT      0x08
#define WSA_FLAG_MULTIPOINT_D_LEAF      0x10
#define WSA_FLAG_ACCESS_SYSTEM_SECURITY 0x40
#define WSA_FLAG_NO_HANDLE_INHERIT      0x80

#define CF_ACCEPT 0x0000
#define CF_REJECT 0x0001
#define CF_DEFER  0x0002

#define MAX_PROTOCOL_CHAIN     7
#define BASE_PROTOCOL          1
#define LAYERED_PROTOCOL       0
#define WSAPROTOCOL_LEN        255
#define WSPDESCRIPTION_LEN     255
#define BIGENDIAN              0x0000
#define LITTLEENDIAN           0x0001
#define SECURITY_PROTOCOL_NONE 0x0000
#define FROM_PROTOCOL_INFO     (-1)
#define WS_FD_SETSIZE          64

#define XP1_CONNECTIONLESS           0x00000001
#define XP1_GUARANTEED_DELIVERY      0x00000002
#define XP1_GUARANTEED_ORDER         0x00000004
#define XP1_MESSAGE_ORIENTED         0x00000008
#define XP1_PSEUDO_STREAM            0x00000010
#define XP1_GRACEFUL_CLOSE           0x00000020
#define XP1_EXPEDITED_DATA           0x00000040
#define XP1_CONNECT_DATA             0x00000080
#define XP1_DISCONNECT_DATA          0x00000100
#define XP1_SUPPORT_BROADCAST        0x00000200
#define XP1_SUPPORT_MULTIPOINT       0x00000400
#define XP1_MULTIPOINT_CONTROL_PLANE 0x00000800
#define XP1_MULTIPOINT_DATA_PLANE    0x00001000
#define XP1_QOS_SUPPORTED            0x00002000
#define XP1_INTERRUPT                0x00004000
#define XP1_UNI_SEND                 0x00008000
#define XP1_UNI_RECV                 0x00010000
#define XP1_IFS_HANDLES              0x00020000
#define XP1_PARTIAL_MESSAGE          0x00040000
#define XP1_SAN_SUPPORT_SDP          0x00080000

#define PFL_MULTIPLE_PROTO_ENTRIES   0x00000001
#define PFL_RECOMMENDED_PROTO_ENTRY  0x00000002
#define PFL_HIDDEN                   0x00000004
#define PFL_MATCHES_PROTOCOL_ZERO    0x00000008
#define PFL_NETWORKDIRECT_PROVIDER   0x00000010

#define SERVICETYPE_NOTRAFFIC            0x00000000
#define SERVICETYPE_BESTEFFORT           0x00000001
#define SERVICETYPE_CONTROLLEDLOAD       0x00000002
#define SERVICETYPE_GUARANTEED           0x00000003
#define SERVICETYPE_NETWORK_UNAVAILABLE  0x00000004
#define SERVICETYPE_GENERAL_INFORMATION  0x00000005
#define SERVICETYPE_NOCHANGE             0x00000006
#define SERVICETYPE_NONCONFORMING        0x00000009
#define SERVICETYPE_NETWORK_CONTROL      0x0000000A
#define SERVICETYPE_QUALITATIVE          0x0000000D
#define QOS_NOT_SPECIFIED                0xFFFFFFFFu
#define POSITIVE_INFINITY_RATE           0xFFFFFFFEu

#ifndef MAKEWORD
#define MAKEWORD(low, high) ((WORD)(((BYTE)(low)) | ((WORD)((BYTE)(high))) << 8))
#endif
#ifndef LOBYTE
#define LOBYTE(w) ((BYTE)((w) & 0xFF))
#define HIBYTE(w) ((BYTE)(((w) >> 8) & 0xFF))
#endif

/* ---- structures ------------------------------------------------------------------------------ */
typedef struct _WSABUF {
    ULONG len;
    char FAR *buf;
} WSABUF, FAR *LPWSABUF;

typedef struct _flowspec {
    ULONG TokenRate;
    ULONG TokenBucketSize;
    ULONG PeakBandwidth;
    ULONG Latency;
    ULONG DelayVariation;
    SERVICETYPE ServiceType;
    ULONG MaxSduSize;
    ULONG MinimumPolicedSize;
} FLOWSPEC, *PFLOWSPEC, FAR *LPFLOWSPEC;

typedef struct _QualityOfService {
    FLOWSPEC SendingFlowspec;
    FLOWSPEC ReceivingFlowspec;
    WSABUF   ProviderSpecific;
} QOS, FAR *LPQOS;

typedef struct _WSANETWORKEVENTS {
    LONG lNetworkEvents;               /* Windows long: 32-bit */
    int  iErrorCode[FD_MAX_EVENTS];
} WSANETWORKEVENTS, FAR *LPWSANETWORKEVENTS;

/* Offset/OffsetHigh alias Pointer; __extension__ keeps C99/C++98 -pedantic quiet about the
 * anonymous members while keeping Windows' spelling (ov.Offset, ov.OffsetHigh). */
typedef struct _OVERLAPPED {
    ULONG_PTR Internal;
    ULONG_PTR InternalHigh;
    __extension__ union {
        __extension__ struct {
            DWORD Offset;
            DWORD OffsetHigh;
        };
        PVOID Pointer;
    };
    HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED, WSAOVERLAPPED, FAR *LPWSAOVERLAPPED;

typedef struct _WSAPROTOCOLCHAIN {
    int   ChainLen;
    DWORD ChainEntries[MAX_PROTOCOL_CHAIN];
} WSAPROTOCOLCHAIN, FAR *LPWSAPROTOCOLCHAIN;

typedef struct _WSAPROTOCOL_INFOW {
    DWORD dwServiceFlags1;
    DWORD dwServiceFlags2;
    DWORD dwServiceFlags3;
    DWORD dwServiceFlags4;
    DWORD dwProviderFlags;
    GUID  ProviderId;
    DWORD dwCatalogEntryId;
    WSAPROTOCOLCHAIN ProtocolChain;
    int   iVersion;
    int   iAddressFamily;
    int   iMaxSockAddr;
    int   iMinSockAddr;
    int   iSocketType;
    int   iProtocol;
    int   iProtocolMaxOffset;
    int   iNetworkByteOrder;
    int   iSecurityScheme;
    DWORD dwMessageSize;
    DWORD dwProviderReserved;          /* 32-bit even on 64-bit: duplication token */
    WCHAR szProtocol[WSAPROTOCOL_LEN + 1];
} WSAPROTOCOL_INFOW, FAR *LPWSAPROTOCOL_INFOW;

typedef struct WSPData {
    WORD  wVersion;
    WORD  wHighVersion;
    WCHAR szDescription[WSPDESCRIPTION_LEN + 1];
} WSPDATA, FAR *LPWSPDATA;

typedef struct _WSATHREADID {
    HANDLE    ThreadHandle;
    DWORD_PTR Reserved;
} WSATHREADID, FAR *LPWSATHREADID;

typedef struct _SOCKET_ADDRESS {
    LPSOCKADDR lpSockaddr;
    INT        iSockaddrLength;
} SOCKET_ADDRESS, *PSOCKET_ADDRESS, FAR *LPSOCKET_ADDRESS;

typedef struct _SOCKET_ADDRESS_LIST {
    INT            iAddressCount;
    SOCKET_ADDRESS Address[1];
} SOCKET_ADDRESS_LIST, *PSOCKET_ADDRESS_LIST, FAR *LPSOCKET_ADDRESS_LIST;

/* Windows fd_set is a counted array of SOCKETs, not a bitmap. */
typedef struct WS_fd_set {
    UINT   fd_count;
    SOCKET fd_array[WS_FD_SETSIZE];
} WS_fd_set;

struct WS_timeval {
    LONG tv_sec;
    LONG tv_usec;
};

/* ---- callbacks -------------------------------------------------------------------------------- */
typedef int (CALLBACK *LPCONDITIONPROC)(LPWSABUF lpCallerId, LPWSABUF lpCallerData,
        LPQOS lpSQOS, LPQOS lpGQOS, LPWSABUF lpCalleeId, LPWSABUF lpCalleeData,
        GROUP FAR *g, DWORD_PTR dwCallbackData);
typedef void (CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
        LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);
typedef BOOL (CALLBACK *LPBLOCKINGCALLBACK)(DWORD_PTR dwContext);
typedef void (CALLBACK *LPWSAUSERAPC)(DWORD_PTR dwContext);

/* ---- service provider entry points ---------------------------------------------------------- */
typedef SOCKET (WSPAPI *LPWSPACCEPT)(SOCKET s, struct sockaddr FAR *addr, LPINT addrlen,
        LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData, LPINT lpErrno);
typedef INT (WSPAPI *LPWSPADDRESSTOSTRING)(LPSOCKADDR lpsaAddress, DWORD dwAddressLength,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSTR lpszAddressString,
        LPDWORD lpdwAddressStringLength, LPINT lpErrno);
typedef int (WSPAPI *LPWSPASYNCSELECT)(SOCKET s, HWND hWnd, unsigned int wMsg, LONG lEvent,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPBIND)(SOCKET s, const struct sockaddr FAR *name, int namelen,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPCANCELBLOCKINGCALL)(LPINT lpErrno);
typedef int (WSPAPI *LPWSPCLEANUP)(LPINT lpErrno);
typedef int (WSPAPI *LPWSPCLOSESOCKET)(SOCKET s, LPINT lpErrno);
typedef int (WSPAPI *LPWSPCONNECT)(SOCKET s, const struct sockaddr FAR *name, int namelen,
        LPWSABUF lpCallerData, LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, LPINT lpErrno);
typedef int (WSPAPI *LPWSPDUPLICATESOCKET)(SOCKET s, DWORD dwProcessId,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPINT lpErrno);
typedef int (WSPAPI *LPWSPENUMNETWORKEVENTS)(SOCKET s, WSAEVENT hEventObject,
        LPWSANETWORKEVENTS lpNetworkEvents, LPINT lpErrno);
typedef int (WSPAPI *LPWSPEVENTSELECT)(SOCKET s, WSAEVENT hEventObject, LONG lNetworkEvents,
        LPINT lpErrno);
typedef BOOL (WSPAPI *LPWSPGETOVERLAPPEDRESULT)(SOCKET s, LPWSAOVERLAPPED lpOverlapped,
        LPDWORD lpcbTransfer, BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno);
typedef int (WSPAPI *LPWSPGETPEERNAME)(SOCKET s, struct sockaddr FAR *name, LPINT namelen,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPGETSOCKNAME)(SOCKET s, struct sockaddr FAR *name, LPINT namelen,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPGETSOCKOPT)(SOCKET s, int level, int optname, char FAR *optval,
        LPINT optlen, LPINT lpErrno);
typedef BOOL (WSPAPI *LPWSPGETQOSBYNAME)(SOCKET s, LPWSABUF lpQOSName, LPQOS lpQOS,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPIOCTL)(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer,
        DWORD cbInBuffer, LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef SOCKET (WSPAPI *LPWSPJOINLEAF)(SOCKET s, const struct sockaddr FAR *name, int namelen,
        LPWSABUF lpCallerData, LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS,
        DWORD dwFlags, LPINT lpErrno);
typedef int (WSPAPI *LPWSPLISTEN)(SOCKET s, int backlog, LPINT lpErrno);
typedef int (WSPAPI *LPWSPRECV)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPRECVDISCONNECT)(SOCKET s, LPWSABUF lpInboundDisconnectData,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPRECVFROM)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, struct sockaddr FAR *lpFrom,
        LPINT lpFromlen, LPWSAOVERLAPPED lpOverlapped,
        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPSELECT)(int nfds, WS_fd_set FAR *readfds, WS_fd_set FAR *writefds,
        WS_fd_set FAR *exceptfds, const struct WS_timeval FAR *timeout, LPINT lpErrno);
typedef int (WSPAPI *LPWSPSEND)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesSent, DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPSENDDISCONNECT)(SOCKET s, LPWSABUF lpOutboundDisconnectData,
        LPINT lpErrno);
typedef int (WSPAPI *LPWSPSENDTO)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesSent, DWORD dwFlags, const struct sockaddr FAR *lpTo, int iTolen,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (WSPAPI *LPWSPSETSOCKOPT)(SOCKET s, int level, int optname,
        const char FAR *optval, int optlen, LPINT lpErrno);
typedef int (WSPAPI *LPWSPSHUTDOWN)(SOCKET s, int how, LPINT lpErrno);
typedef SOCKET (WSPAPI *LPWSPSOCKET)(int af, int type, int protocol,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP g, DWORD dwFlags, LPINT lpErrno);
typedef INT (WSPAPI *LPWSPSTRINGTOADDRESS)(LPWSTR AddressString, INT AddressFamily,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPSOCKADDR lpAddress, LPINT lpAddressLength,
        LPINT lpErrno);

typedef struct _WSPPROC_TABLE {
    LPWSPACCEPT              lpWSPAccept;
    LPWSPADDRESSTOSTRING     lpWSPAddressToString;
    LPWSPASYNCSELECT         lpWSPAsyncSelect;
    LPWSPBIND                lpWSPBind;
    LPWSPCANCELBLOCKINGCALL  lpWSPCancelBlockingCall;
    LPWSPCLEANUP             lpWSPCleanup;
    LPWSPCLOSESOCKET         lpWSPCloseSocket;
    LPWSPCONNECT             lpWSPConnect;
    LPWSPDUPLICATESOCKET     lpWSPDuplicateSocket;
    LPWSPENUMNETWORKEVENTS   lpWSPEnumNetworkEvents;
    LPWSPEVENTSELECT         lpWSPEventSelect;
    LPWSPGETOVERLAPPEDRESULT lpWSPGetOverlappedResult;
    LPWSPGETPEERNAME         lpWSPGetPeerName;
    LPWSPGETSOCKNAME         lpWSPGetSockName;
    LPWSPGETSOCKOPT          lpWSPGetSockOpt;
    LPWSPGETQOSBYNAME        lpWSPGetQOSByName;
    LPWSPIOCTL               lpWSPIoctl;
    LPWSPJOINLEAF            lpWSPJoinLeaf;
    LPWSPLISTEN              lpWSPListen;
    LPWSPRECV                lpWSPRecv;
    LPWSPRECVDISCONNECT      lpWSPRecvDisconnect;
    LPWSPRECVFROM            lpWSPRecvFrom;
    LPWSPSELECT              lpWSPSelect;
    LPWSPSEND                lpWSPSend;
    LPWSPSENDDISCONNECT      lpWSPSendDisconnect;
    LPWSPSENDTO              lpWSPSendTo;
    LPWSPSETSOCKOPT          lpWSPSetSockOpt;
    LPWSPSHUTDOWN            lpWSPShutdown;
    LPWSPSOCKET              lpWSPSocket;
    LPWSPSTRINGTOADDRESS     lpWSPStringToAddress;
} WSPPROC_TABLE, FAR *LPWSPPROC_TABLE;

/* ---- upcalls (provider -> switch) ------------------------------------------------------------ */
typedef BOOL (WSPAPI *LPWPUCLOSEEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef int (WSPAPI *LPWPUCLOSESOCKETHANDLE)(SOCKET s, LPINT lpErrno);
typedef WSAEVENT (WSPAPI *LPWPUCREATEEVENT)(LPINT lpErrno);
typedef SOCKET (WSPAPI *LPWPUCREATESOCKETHANDLE)(DWORD dwCatalogEntryId, DWORD_PTR dwContext,
        LPINT lpErrno);
typedef int (WSPAPI *LPWPUFDISSET)(SOCKET s, WS_fd_set FAR *fdset);
typedef int (WSPAPI *LPWPUGETPROVIDERPATH)(LPGUID lpProviderId, WCHAR FAR *lpszProviderDllPath,
        LPINT lpProviderDllPathLen, LPINT lpErrno);
typedef SOCKET (WSPAPI *LPWPUMODIFYIFSHANDLE)(DWORD dwCatalogEntryId, SOCKET ProposedHandle,
        LPINT lpErrno);
typedef BOOL (WSPAPI *LPWPUPOSTMESSAGE)(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam);
typedef int (WSPAPI *LPWPUQUERYBLOCKINGCALLBACK)(DWORD dwCatalogEntryId,
        LPBLOCKINGCALLBACK FAR *lplpfnCallback, PDWORD_PTR lpdwContext, LPINT lpErrno);
typedef int (WSPAPI *LPWPUQUERYSOCKETHANDLECONTEXT)(SOCKET s, PDWORD_PTR lpContext,
        LPINT lpErrno);
typedef int (WSPAPI *LPWPUQUEUEAPC)(LPWSATHREADID lpThreadId, LPWSAUSERAPC lpfnUserApc,
        DWORD_PTR dwContext, LPINT lpErrno);
typedef BOOL (WSPAPI *LPWPURESETEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef BOOL (WSPAPI *LPWPUSETEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef int (WSPAPI *LPWPUOPENCURRENTTHREAD)(LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (WSPAPI *LPWPUCLOSETHREAD)(LPWSATHREADID lpThreadId, LPINT lpErrno);

typedef struct _WSPUPCALLTABLE {
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
} WSPUPCALLTABLE, FAR *LPWSPUPCALLTABLE;

typedef int (WSPAPI *LPWSPSTARTUP)(WORD wVersionRequested, LPWSPDATA lpWSPData,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, WSPUPCALLTABLE UpcallTable,
        LPWSPPROC_TABLE lpProcTable);

/* ---- the provider's exported entry points ---------------------------------------------------- */
int WSPAPI WSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, WSPUPCALLTABLE UpcallTable,
        LPWSPPROC_TABLE lpProcTable);
SOCKET WSPAPI WSPAccept(SOCKET s, struct sockaddr FAR *addr, LPINT addrlen,
        LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData, LPINT lpErrno);
INT WSPAPI WSPAddressToString(LPSOCKADDR lpsaAddress, DWORD dwAddressLength,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSTR lpszAddressString,
        LPDWORD lpdwAddressStringLength, LPINT lpErrno);
int WSPAPI WSPAsyncSelect(SOCKET s, HWND hWnd, unsigned int wMsg, LONG lEvent, LPINT lpErrno);
int WSPAPI WSPBind(SOCKET s, const struct sockaddr FAR *name, int namelen, LPINT lpErrno);
int WSPAPI WSPCancelBlockingCall(LPINT lpErrno);
int WSPAPI WSPCleanup(LPINT lpErrno);
int WSPAPI WSPCloseSocket(SOCKET s, LPINT lpErrno);
int WSPAPI WSPConnect(SOCKET s, const struct sockaddr FAR *name, int namelen,
        LPWSABUF lpCallerData, LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, LPINT lpErrno);
int WSPAPI WSPDuplicateSocket(SOCKET s, DWORD dwProcessId, LPWSAPROTOCOL_INFOW lpProtocolInfo,
        LPINT lpErrno);
int WSPAPI WSPEnumNetworkEvents(SOCKET s, WSAEVENT hEventObject,
        LPWSANETWORKEVENTS lpNetworkEvents, LPINT lpErrno);
int WSPAPI WSPEventSelect(SOCKET s, WSAEVENT hEventObject, LONG lNetworkEvents, LPINT lpErrno);
BOOL WSPAPI WSPGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
        BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno);
int WSPAPI WSPGetPeerName(SOCKET s, struct sockaddr FAR *name, LPINT namelen, LPINT lpErrno);
int WSPAPI WSPGetSockName(SOCKET s, struct sockaddr FAR *name, LPINT namelen, LPINT lpErrno);
int WSPAPI WSPGetSockOpt(SOCKET s, int level, int optname, char FAR *optval, LPINT optlen,
        LPINT lpErrno);
BOOL WSPAPI WSPGetQOSByName(SOCKET s, LPWSABUF lpQOSName, LPQOS lpQOS, LPINT lpErrno);
int WSPAPI WSPIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
        LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
SOCKET WSPAPI WSPJoinLeaf(SOCKET s, const struct sockaddr FAR *name, int namelen,
        LPWSABUF lpCallerData, LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, DWORD dwFlags,
        LPINT lpErrno);
int WSPAPI WSPListen(SOCKET s, int backlog, LPINT lpErrno);
int WSPAPI WSPRecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
        LPINT lpErrno);
int WSPAPI WSPRecvDisconnect(SOCKET s, LPWSABUF lpInboundDisconnectData, LPINT lpErrno);
int WSPAPI WSPRecvFrom(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, struct sockaddr FAR *lpFrom,
        LPINT lpFromlen, LPWSAOVERLAPPED lpOverlapped,
        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
        LPINT lpErrno);
int WSPAPI WSPSelect(int nfds, WS_fd_set FAR *readfds, WS_fd_set FAR *writefds,
        WS_fd_set FAR *exceptfds, const struct WS_timeval FAR *timeout, LPINT lpErrno);
int WSPAPI WSPSend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesSent, DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
        LPINT lpErrno);
int WSPAPI WSPSendDisconnect(SOCKET s, LPWSABUF lpOutboundDisconnectData, LPINT lpErrno);
int WSPAPI WSPSendTo(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
        LPDWORD lpNumberOfBytesSent, DWORD dwFlags, const struct sockaddr FAR *lpTo, int iTolen,
        LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
        LPWSATHREADID lpThreadId, LPINT lpErrno);
int WSPAPI WSPSetSockOpt(SOCKET s, int level, int optname, const char FAR *optval, int optlen,
        LPINT lpErrno);
int WSPAPI WSPShutdown(SOCKET s, int how, LPINT lpErrno);
SOCKET WSPAPI WSPSocket(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo,
        GROUP g, DWORD dwFlags, LPINT lpErrno);
INT WSPAPI WSPStringToAddress(LPWSTR AddressString, INT AddressFamily,
        LPWSAPROTOCOL_INFOW lpProtocolInfo, LPSOCKADDR lpAddress, LPINT lpAddressLength,
        LPINT lpErrno);

/* ---- layout checks (LP64: x86_64, aarch64) --------------------------------------------------- */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define SANWSP_STATIC_ASSERT(cond, name) static_assert(cond, #name)
#else
#define SANWSP_STATIC_ASSERT(cond, name) typedef char sanwsp_static_assert_##name[(cond) ? 1 : -1]
#endif
#if defined(__LP64__)
SANWSP_STATIC_ASSERT(sizeof(GUID) == 16, guid_size);
SANWSP_STATIC_ASSERT(sizeof(WSABUF) == 16, wsabuf_size);
SANWSP_STATIC_ASSERT(offsetof(WSABUF, buf) == 8, wsabuf_buf);
SANWSP_STATIC_ASSERT(sizeof(FLOWSPEC) == 32, flowspec_size);
SANWSP_STATIC_ASSERT(sizeof(QOS) == 80, qos_size);
SANWSP_STATIC_ASSERT(offsetof(QOS, ProviderSpecific) == 64, qos_provider_specific);
SANWSP_STATIC_ASSERT(sizeof(WSANETWORKEVENTS) == 44, wsanetworkevents_size);
SANWSP_STATIC_ASSERT(sizeof(WSAOVERLAPPED) == 32, wsaoverlapped_size);
SANWSP_STATIC_ASSERT(offsetof(WSAOVERLAPPED, InternalHigh) == 8, ov_internal_high);
SANWSP_STATIC_ASSERT(offsetof(WSAOVERLAPPED, hEvent) == 24, ov_hevent);
SANWSP_STATIC_ASSERT(sizeof(WSAPROTOCOLCHAIN) == 32, protocolchain_size);
SANWSP_STATIC_ASSERT(sizeof(WSAPROTOCOL_INFOW) == 628, protocol_info_size);
SANWSP_STATIC_ASSERT(offsetof(WSAPROTOCOL_INFOW, ProviderId) == 20, pi_provider_id);
SANWSP_STATIC_ASSERT(offsetof(WSAPROTOCOL_INFOW, ProtocolChain) == 40, pi_chain);
SANWSP_STATIC_ASSERT(offsetof(WSAPROTOCOL_INFOW, iVersion) == 72, pi_version);
SANWSP_STATIC_ASSERT(offsetof(WSAPROTOCOL_INFOW, dwMessageSize) == 108, pi_message_size);
SANWSP_STATIC_ASSERT(offsetof(WSAPROTOCOL_INFOW, dwProviderReserved) == 112, pi_reserved);
SANWSP_STATIC_ASSERT(offsetof(WSAPROTOCOL_INFOW, szProtocol) == 116, pi_protocol);
SANWSP_STATIC_ASSERT(sizeof(WSPDATA) == 516, wspdata_size);
SANWSP_STATIC_ASSERT(sizeof(WSATHREADID) == 16, threadid_size);
SANWSP_STATIC_ASSERT(sizeof(SOCKET_ADDRESS) == 16, socket_address_size);
SANWSP_STATIC_ASSERT(sizeof(SOCKET_ADDRESS_LIST) == 24, socket_address_list_size);
SANWSP_STATIC_ASSERT(offsetof(SOCKET_ADDRESS_LIST, Address) == 8, sal_address);
SANWSP_STATIC_ASSERT(sizeof(WS_fd_set) == 520, fd_set_size);
SANWSP_STATIC_ASSERT(sizeof(struct WS_timeval) == 8, timeval_size);
SANWSP_STATIC_ASSERT(sizeof(WSPPROC_TABLE) == 240, proc_table_size);
SANWSP_STATIC_ASSERT(sizeof(WSPUPCALLTABLE) == 120, upcall_table_size);
SANWSP_STATIC_ASSERT(sizeof(SOCKET) == 8, socket_size);
SANWSP_STATIC_ASSERT(sizeof(struct sockaddr_in) == 16, sockaddr_in_size);
#endif

#ifdef __cplusplus
}
#endif
#endif /* SANWSP_WS2SPI_H */
