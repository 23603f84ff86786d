import WinSock

/// WSPStartupEx: the entry point a switch finds with dlsym. Errors are returned directly.
@c @implementation
public func WSPStartupEx(
    _ wVersionRequested: WORD, _ lpWSPData: LPWSPDATA?, _ lpProtocolInfo: LPWSAPROTOCOL_INFOW?,
    _ lpUpcallTable: LPWSPUPCALLTABLEEX?, _ lpProcTable: LPWSPPROC_TABLE?
) -> Int32 {
    startup(wVersionRequested, lpWSPData, lpUpcallTable?.pointee, lpProcTable)
}

/// WSPStartup: the plain SPI form, with the upcall table by value and no
/// WPUCompleteOverlappedRequest (the switch never uses it on a SAN provider; see docs/ABI.md).
@c @implementation
public func WSPStartup(
    _ wVersionRequested: WORD, _ lpWSPData: LPWSPDATA?, _ lpProtocolInfo: LPWSAPROTOCOL_INFOW?,
    _ UpcallTable: WSPUPCALLTABLE, _ lpProcTable: LPWSPPROC_TABLE?
) -> Int32 {
    let t = UpcallTable
    let ex = WSPUPCALLTABLEEX(
        lpWPUCloseEvent: t.lpWPUCloseEvent, lpWPUCloseSocketHandle: t.lpWPUCloseSocketHandle,
        lpWPUCreateEvent: t.lpWPUCreateEvent, lpWPUCreateSocketHandle: t.lpWPUCreateSocketHandle,
        lpWPUFDIsSet: t.lpWPUFDIsSet, lpWPUGetProviderPath: t.lpWPUGetProviderPath,
        lpWPUModifyIFSHandle: t.lpWPUModifyIFSHandle, lpWPUPostMessage: t.lpWPUPostMessage,
        lpWPUQueryBlockingCallback: t.lpWPUQueryBlockingCallback,
        lpWPUQuerySocketHandleContext: t.lpWPUQuerySocketHandleContext,
        lpWPUQueueApc: t.lpWPUQueueApc, lpWPUResetEvent: t.lpWPUResetEvent,
        lpWPUSetEvent: t.lpWPUSetEvent, lpWPUOpenCurrentThread: t.lpWPUOpenCurrentThread,
        lpWPUCloseThread: t.lpWPUCloseThread, lpWPUCompleteOverlappedRequest: nil)
    return startup(wVersionRequested, lpWSPData, ex, lpProcTable, requireCompletionUpcall: false)
}

private func startup(
    _ version: WORD, _ data: LPWSPDATA?, _ upcalls: WSPUPCALLTABLEEX?,
    _ procTable: LPWSPPROC_TABLE?, requireCompletionUpcall: Bool = true
) -> Int32 {
    guard let data, let procTable else { return WSAEFAULT }
    do {
        try Provider.shared.startup(
            version: version, upcalls: upcalls, requireCompletionUpcall: requireCompletionUpcall)
    } catch {
        return error.code
    }
    data.pointee.wVersion = 0x0202
    data.pointee.wHighVersion = 0x0202
    withUnsafeMutableBytes(of: &data.pointee.szDescription) {
        ProviderIdentity.writeUTF16(ProviderIdentity.description, into: $0)
    }
    procTable.pointee = ProcTable.make()
    return 0
}

@c @implementation
public func WSPCleanup(_ lpErrno: LPINT?) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in try Provider.shared.cleanup() }
}

enum ProcTable {
    /// Every slot points at the exported function of the same name.
    static func make() -> WSPPROC_TABLE {
        WSPPROC_TABLE(
            lpWSPAccept: WSPAccept, lpWSPAddressToString: WSPAddressToString,
            lpWSPAsyncSelect: WSPAsyncSelect, lpWSPBind: WSPBind,
            lpWSPCancelBlockingCall: WSPCancelBlockingCall, lpWSPCleanup: WSPCleanup,
            lpWSPCloseSocket: WSPCloseSocket, lpWSPConnect: WSPConnect,
            lpWSPDuplicateSocket: WSPDuplicateSocket, lpWSPEnumNetworkEvents: WSPEnumNetworkEvents,
            lpWSPEventSelect: WSPEventSelect, lpWSPGetOverlappedResult: WSPGetOverlappedResult,
            lpWSPGetPeerName: WSPGetPeerName, lpWSPGetSockName: WSPGetSockName,
            lpWSPGetSockOpt: WSPGetSockOpt, lpWSPGetQOSByName: WSPGetQOSByName,
            lpWSPIoctl: WSPIoctl, lpWSPJoinLeaf: WSPJoinLeaf, lpWSPListen: WSPListen,
            lpWSPRecv: WSPRecv, lpWSPRecvDisconnect: WSPRecvDisconnect,
            lpWSPRecvFrom: WSPRecvFrom, lpWSPSelect: WSPSelect, lpWSPSend: WSPSend,
            lpWSPSendDisconnect: WSPSendDisconnect, lpWSPSendTo: WSPSendTo,
            lpWSPSetSockOpt: WSPSetSockOpt, lpWSPShutdown: WSPShutdown, lpWSPSocket: WSPSocket,
            lpWSPStringToAddress: WSPStringToAddress)
    }
}
