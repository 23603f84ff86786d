import Glibc
import Synchronization
import WinSock
@testable import SanWSP

/// A switch's side of the upcall table for Swift tests: hands out switch handles, counts every
/// upcall, and remembers the order of upcalls per handle.
enum TestSwitch {
    struct State {
        var nextHandle: SOCKET = 0x5000
        var live: [SOCKET: DWORD_PTR] = [:]        // switch handle -> provider context
        var created = 0
        var closed = 0
        var badCloses = 0
        var completions = 0
        var failNextCreate: Int32 = 0
        var lastCreateCatalog: DWORD = 0
    }
    static let state = Mutex(State())

    static func reset() { state.withLock { $0 = State() } }

    static let table: WSPUPCALLTABLEEX = {
        var t = WSPUPCALLTABLEEX()
        t.lpWPUCreateSocketHandle = { catalog, context, err in
            TestSwitch.state.withLock { s -> SOCKET in
                if s.failNextCreate != 0 {
                    err?.pointee = s.failNextCreate
                    s.failNextCreate = 0
                    return ~0
                }
                s.nextHandle += 1
                s.live[s.nextHandle] = context
                s.created += 1
                s.lastCreateCatalog = catalog
                return s.nextHandle
            }
        }
        t.lpWPUCloseSocketHandle = { handle, err in
            TestSwitch.state.withLock { s -> Int32 in
                guard s.live.removeValue(forKey: handle) != nil else {
                    s.badCloses += 1
                    err?.pointee = WSAENOTSOCK
                    return -1
                }
                s.closed += 1
                return 0
            }
        }
        t.lpWPUCompleteOverlappedRequest = { _, ov, _, bytes, _ in
            TestSwitch.state.withLock { $0.completions += 1 }
            // What a switch's upcall does: bytes first, then Internal (release).
            if let ov {
                ov.pointee.InternalHigh = UInt(bytes)
                Overlapped.markDone(ov, error: 0)
            }
            return 0
        }
        t.lpWPUSetEvent = { event, _ in WSASetEvent(event) }
        t.lpWPUResetEvent = { event, _ in WSAResetEvent(event) }
        return t
    }()

    static var counts: (created: Int, closed: Int, bad: Int) {
        state.withLock { ($0.created, $0.closed, $0.badCloses) }
    }

    /// Starts the provider with this switch; returns the proc table.
    @discardableResult
    static func start() -> WSPPROC_TABLE {
        var data = WSPDATA()
        var procs = WSPPROC_TABLE()
        var upcalls = table
        let rc = WSPStartupEx(0x0202, &data, nil, &upcalls, &procs)
        precondition(rc == 0, "startup failed \(rc)")
        return procs
    }

    /// Cleans up until the provider reports WSANOTINITIALISED.
    static func stopAll() {
        var err: Int32 = 0
        while WSPCleanup(&err) == 0 {}
    }
}

/// Helpers shared by the tests.
func ipv4(_ text: String, _ port: UInt16) -> sockaddr_in {
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    inet_pton(AF_INET, text, &sin.sin_addr)
    return sin
}

func ipv6(_ text: String, _ port: UInt16) -> sockaddr_in6 {
    var sin6 = sockaddr_in6()
    sin6.sin6_family = sa_family_t(AF_INET6)
    sin6.sin6_port = port.bigEndian
    inet_pton(AF_INET6, text, &sin6.sin6_addr)
    return sin6
}

func newSocket(_ family: Int32 = AF_INET) -> (SOCKET, Int32) {
    var err: Int32 = 0
    let s = WSPSocket(family, 1, 6, nil, 0, DWORD(WSA_FLAG_OVERLAPPED), &err)
    return (s, err)
}

func bind<T>(_ s: SOCKET, _ address: T, length: Int32? = nil) -> Int32 {
    var address = address
    var err: Int32 = 0
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            WSPBind(s, $0, length ?? Int32(MemoryLayout<T>.size), &err)
        }
    }
    return rc == 0 ? 0 : err
}

func closeSocket(_ s: SOCKET) -> Int32 {
    var err: Int32 = 0
    return WSPCloseSocket(s, &err) == 0 ? 0 : err
}

func openFDCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var n = 0
    while readdir(dir) != nil { n += 1 }
    return n
}
