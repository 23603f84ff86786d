import WinSock

@c @implementation
public func WSACreateEvent() -> WSAEVENT? {
    reportingLastError(failure: nil) { () throws(WSAError) -> WSAEVENT? in try EventObjects.create() }
}

@c @implementation
public func WSASetEvent(_ hEvent: WSAEVENT?) -> BOOL {
    reportingLastError(failure: 0) { () throws(WSAError) -> BOOL in
        try EventObjects.lookup(hEvent).set()
        return 1
    }
}

@c @implementation
public func WSAResetEvent(_ hEvent: WSAEVENT?) -> BOOL {
    reportingLastError(failure: 0) { () throws(WSAError) -> BOOL in
        try EventObjects.lookup(hEvent).reset()
        return 1
    }
}

@c @implementation
public func WSACloseEvent(_ hEvent: WSAEVENT?) -> BOOL {
    reportingLastError(failure: 0) { () throws(WSAError) -> BOOL in
        try EventObjects.close(hEvent)
        return 1
    }
}

@c @implementation
public func WSAEventGetFd(_ hEvent: WSAEVENT?) -> Int32 {
    reportingLastError(failure: -1) { () throws(WSAError) -> Int32 in
        try EventObjects.lookup(hEvent).fd
    }
}

@c @implementation
public func WSAWaitForMultipleEvents(
    _ cEvents: DWORD, _ lphEvents: UnsafePointer<WSAEVENT?>?, _ fWaitAll: BOOL,
    _ dwTimeout: DWORD, _ fAlertable: BOOL
) -> DWORD {
    reportingLastError(failure: WSA_WAIT_FAILED) { () throws(WSAError) -> DWORD in
        guard cEvents > 0, cEvents <= DWORD(WSA_MAXIMUM_WAIT_EVENTS) else {
            throw .invalidParameter
        }
        guard let lphEvents else { throw .fault }
        let handles = Array(UnsafeBufferPointer(start: lphEvents, count: Int(cEvents)))
        guard let index = try EventObjects.wait(handles, all: fWaitAll != 0, timeoutMs: dwTimeout)
        else { return WSA_WAIT_TIMEOUT }
        return WSA_WAIT_EVENT_0 + DWORD(index)
    }
}

@c @implementation
public func WSAGetLastError() -> Int32 { LastError.value }

@c @implementation
public func WSASetLastError(_ iError: Int32) { LastError.value = iError }
