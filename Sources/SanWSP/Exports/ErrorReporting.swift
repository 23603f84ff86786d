import WinSock

/// Runs a core call for an export: on success clears *lpErrno and returns the value; on a
/// WSAError stores its code in *lpErrno (when the caller gave one) and returns `failure`.
/// This is the only place a Swift error becomes a Winsock code.
@inline(__always)
func reporting<T>(_ lpErrno: LPINT?, failure: T, _ body: () throws(WSAError) -> T) -> T {
    do {
        let value = try body()
        lpErrno?.pointee = 0
        return value
    } catch {
        lpErrno?.pointee = error.code
        return failure
    }
}

/// The common `int` shape: 0 or SOCKET_ERROR.
@inline(__always)
func reporting(_ lpErrno: LPINT?, _ body: () throws(WSAError) -> Void) -> Int32 {
    reporting(lpErrno, failure: SOCKET_ERROR) { () throws(WSAError) -> Int32 in
        try body()
        return 0
    }
}

/// For the WSA* event calls, which report through WSAGetLastError.
@inline(__always)
func reportingLastError<T>(failure: T, _ body: () throws(WSAError) -> T) -> T {
    do { return try body() } catch {
        LastError.value = error.code
        return failure
    }
}
