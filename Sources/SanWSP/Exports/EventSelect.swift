import WinSock

@c @implementation
public func WSPEventSelect(
    _ s: SOCKET, _ hEventObject: WSAEVENT?, _ lNetworkEvents: LONG, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.socket(s).eventSelect(hEventObject, mask: lNetworkEvents)
    }
}

@c @implementation
public func WSPEnumNetworkEvents(
    _ s: SOCKET, _ hEventObject: WSAEVENT?, _ lpNetworkEvents: LPWSANETWORKEVENTS?,
    _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        try Provider.shared.socket(s).enumNetworkEvents(hEventObject, into: lpNetworkEvents)
    }
}
