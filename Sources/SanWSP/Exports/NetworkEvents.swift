import WinSock

// FD_ACCEPT / FD_CONNECT reporting. (Issue 3: not yet implemented.)

@c @implementation
public func WSPEventSelect(
    _ s: SOCKET, _ hEventObject: WSAEVENT?, _ lNetworkEvents: LONG, _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}

@c @implementation
public func WSPEnumNetworkEvents(
    _ s: SOCKET, _ hEventObject: WSAEVENT?, _ lpNetworkEvents: LPWSANETWORKEVENTS?,
    _ lpErrno: LPINT?
) -> Int32 {
    notSupported(lpErrno)
}
