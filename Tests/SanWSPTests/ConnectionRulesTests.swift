import Glibc
import Synchronization
import Testing
import WinSock
@testable import SanWSP

/// Error codes and edge cases of WSPListen / WSPAccept / WSPConnect / event selection.
@Suite(.serialized)
struct ConnectionRulesTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
        ConditionScript.state.withLock { $0 = .init() }
    }

    func listening(_ port: UInt16, backlog: Int32 = 5) -> (SOCKET, WSAEVENT?) {
        let (l, _) = newSocket()
        _ = bind(l, ipv4("127.0.0.1", port))
        var err: Int32 = 0
        _ = WSPListen(l, backlog, &err)
        let e = WSACreateEvent()
        _ = eventSelect(l, e, Int32(FD_ACCEPT))
        return (l, e)
    }

    func nonblockingClient() -> (SOCKET, WSAEVENT?) {
        let (c, _) = newSocket()
        _ = bind(c, ipv4("127.0.0.1", 0))
        let e = WSACreateEvent()
        _ = eventSelect(c, e, Int32(FD_CONNECT))
        return (c, e)
    }

    @Test func listenStates() {
        var err: Int32 = 0
        let (unbound, _) = newSocket()
        #expect(WSPListen(unbound, 5, &err) == SOCKET_ERROR && err == WSAEINVAL)
        let (l, e) = listening(17200)
        defer { _ = WSACloseEvent(e) }
        #expect(WSPListen(l, 1, &err) == 0)            // again: updates the backlog
        #expect(WSPListen(l, WS_SOMAXCONN, &err) == 0)
        var value: Int32 = 0
        var len: Int32 = 4
        _ = withUnsafeMutableBytes(of: &value) {
            WSPGetSockOpt(l, WS_SOL_SOCKET, WS_SO_ACCEPTCONN, $0.baseAddress!.assumingMemoryBound(to: CChar.self), &len, &err)
        }
        #expect(value == 1)
        #expect(eventSelect(l, e, Int32(FD_READ)) == WSAEINVAL)
        #expect(eventSelect(l, nil, Int32(FD_ACCEPT)) == WSAEINVAL)
        #expect(WSPEnumNetworkEvents(l, e, nil, &err) == SOCKET_ERROR && err == WSAEFAULT)
        #expect(WSPAccept(unbound, nil, nil, nil, 0, &err) == SOCKET.invalid && err == WSAEINVAL)
        _ = closeSocket(l); _ = closeSocket(unbound)
    }

    @Test func backlogOverflowIsRefusedWithoutFdAccept() throws {
        let (l, le) = listening(17210, backlog: 1)
        defer { _ = WSACloseEvent(le) }
        let (c1, e1) = nonblockingClient(), (c2, e2) = nonblockingClient()
        defer { _ = WSACloseEvent(e1); _ = WSACloseEvent(e2) }
        #expect(connect(c1, ipv4("127.0.0.1", 17210)) == WSAEWOULDBLOCK)
        let first = try #require(waitEvents(l, le))
        #expect(first.lNetworkEvents == FD_ACCEPT)
        #expect(connect(c2, ipv4("127.0.0.1", 17210)) == WSAEWOULDBLOCK)
        let refused = try #require(waitEvents(c2, e2))
        #expect(errorCode(refused, FD_CONNECT_BIT) == WSAECONNREFUSED)
        // No FD_ACCEPT for the refused request.
        var handles = [le]
        #expect(WSAWaitForMultipleEvents(1, &handles, 0, 100, 0) == WSA_WAIT_TIMEOUT)
        var err: Int32 = 0
        let s = WSPAccept(l, nil, nil, nil, 0, &err)
        #expect(s != SOCKET.invalid)
        let ok = try #require(waitEvents(c1, e1))
        #expect(errorCode(ok, FD_CONNECT_BIT) == 0)
        // A failed connect may be retried on the same socket.
        #expect(connect(c2, ipv4("127.0.0.1", 17210)) == WSAEWOULDBLOCK)
        _ = try #require(waitEvents(l, le))
        #expect(WSPAccept(l, nil, nil, nil, 0, &err) != SOCKET.invalid)
        let retried = try #require(waitEvents(c2, e2))
        #expect(errorCode(retried, FD_CONNECT_BIT) == 0)
        for x in [c1, c2, s, l] { _ = closeSocket(x) }
    }

    @Test func deferThenAcceptAndQueuedRequestsKeepFdAccept() throws {
        let (l, le) = listening(17220)
        defer { _ = WSACloseEvent(le) }
        let (c1, e1) = nonblockingClient(), (c2, e2) = nonblockingClient()
        defer { _ = WSACloseEvent(e1); _ = WSACloseEvent(e2) }
        #expect(connect(c1, ipv4("127.0.0.1", 17220)) == WSAEWOULDBLOCK)
        _ = try #require(waitEvents(l, le))
        #expect(connect(c2, ipv4("127.0.0.1", 17220)) == WSAEWOULDBLOCK)
        _ = try #require(waitEvents(l, le))   // second arrival signals again
        var err: Int32 = 0
        ConditionScript.state.withLock { $0.verdict = CF_DEFER }
        #expect(WSPAccept(l, nil, nil, ConditionScript.function, 0, &err) == SOCKET.invalid && err == WSATRY_AGAIN)
        // Short addrlen: WSAEFAULT and the request stays.
        var addr = sockaddr_in()
        var shortLen: Int32 = 8
        let faulted = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPAccept(l, $0, &shortLen, nil, 0, &err) }
        }
        #expect(faulted == SOCKET.invalid && err == WSAEFAULT)
        ConditionScript.state.withLock { $0.verdict = CF_ACCEPT }
        let a1 = WSPAccept(l, nil, nil, ConditionScript.function, 0, &err)
        #expect(a1 != SOCKET.invalid)
        // One still queued: FD_ACCEPT is signalled again.
        let again = try #require(waitEvents(l, le, timeoutMs: 1000))
        #expect(again.lNetworkEvents == FD_ACCEPT)
        let a2 = WSPAccept(l, nil, nil, ConditionScript.function, 0, &err)
        #expect(a2 != SOCKET.invalid)
        #expect(ConditionScript.state.withLock { $0.calls } == 3)
        #expect(errorCode(try #require(waitEvents(c1, e1)), FD_CONNECT_BIT) == 0)
        #expect(errorCode(try #require(waitEvents(c2, e2)), FD_CONNECT_BIT) == 0)
        for x in [c1, c2, a1, a2, l] { _ = closeSocket(x) }
    }

    @Test func eventBeforeSelectSignalsAtOnce() throws {
        let (l, _) = newSocket()
        _ = bind(l, ipv4("127.0.0.1", 17230))
        var err: Int32 = 0
        _ = WSPListen(l, 5, &err)
        let (c, ce) = nonblockingClient()
        defer { _ = WSACloseEvent(ce) }
        #expect(connect(c, ipv4("127.0.0.1", 17230)) == WSAEWOULDBLOCK)
        #expect(connect(c, ipv4("127.0.0.1", 17230)) == WSAEALREADY)
        usleep(200_000)   // the request is queued before anyone selects FD_ACCEPT
        let le = WSACreateEvent()
        defer { _ = WSACloseEvent(le) }
        #expect(eventSelect(l, le, Int32(FD_ACCEPT)) == 0)
        let ne = try #require(waitEvents(l, le, timeoutMs: 100))
        #expect(ne.lNetworkEvents == FD_ACCEPT)
        // Enumerating cleared the record and reset the event.
        var handles = [le]
        #expect(WSAWaitForMultipleEvents(1, &handles, 0, 0, 0) == WSA_WAIT_TIMEOUT)
        var empty = WSANETWORKEVENTS()
        #expect(WSPEnumNetworkEvents(l, nil, &empty, &err) == 0 && empty.lNetworkEvents == 0)
        _ = closeSocket(c); _ = closeSocket(l)
    }

    @Test func connectDataLimits() throws {
        let (l, le) = listening(17240)
        defer { _ = WSACloseEvent(le) }
        for size in [0, ConnectData.maximum] {
            let (c, ce) = nonblockingClient()
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
            ConditionScript.state.withLock { $0.calleeData = data.reversed() }
            var storage = [CChar](repeating: 0, count: 64)
            var callee = storage.withUnsafeMutableBufferPointer { WSABUF(len: 64, buf: $0.baseAddress) }
            #expect(connect(c, ipv4("127.0.0.1", 17240), callerData: data, callee: &callee) == WSAEWOULDBLOCK)
            _ = try #require(waitEvents(l, le))
            var err: Int32 = 0
            let a = WSPAccept(l, nil, nil, ConditionScript.function, 0, &err)
            #expect(a != SOCKET.invalid)
            #expect(ConditionScript.state.withLock { $0.sawCallerData } == data)
            #expect(errorCode(try #require(waitEvents(c, ce)), FD_CONNECT_BIT) == 0)
            #expect(Int(callee.len) == size)
            #expect(storage.prefix(size).map { UInt8(bitPattern: $0) } == data.reversed())
            _ = closeSocket(a); _ = closeSocket(c); _ = WSACloseEvent(ce)
        }
        // maximum + 1: WSAEFAULT and no attempt reaches the listener.
        let (c, ce) = nonblockingClient()
        defer { _ = WSACloseEvent(ce) }
        let tooBig = [UInt8](repeating: 9, count: ConnectData.maximum + 1)
        #expect(connect(c, ipv4("127.0.0.1", 17240), callerData: tooBig) == WSAEFAULT)
        var handles = [le]
        #expect(WSAWaitForMultipleEvents(1, &handles, 0, 100, 0) == WSA_WAIT_TIMEOUT)
        // A callee buffer smaller than the peer's answer fails the connect with WSAEFAULT.
        ConditionScript.state.withLock { $0.calleeData = [1, 2, 3, 4] }
        var small = [CChar](repeating: 0, count: 2)
        var callee = small.withUnsafeMutableBufferPointer { WSABUF(len: 2, buf: $0.baseAddress) }
        #expect(connect(c, ipv4("127.0.0.1", 17240), callee: &callee) == WSAEWOULDBLOCK)
        _ = try #require(waitEvents(l, le))
        var err: Int32 = 0
        let a = WSPAccept(l, nil, nil, ConditionScript.function, 0, &err)
        #expect(errorCode(try #require(waitEvents(c, ce)), FD_CONNECT_BIT) == WSAEFAULT)
        _ = closeSocket(a); _ = closeSocket(c); _ = closeSocket(l)
    }

    @Test func connectArgumentErrors() {
        let (c, _) = newSocket()
        _ = bind(c, ipv4("127.0.0.1", 0))
        var err: Int32 = 0
        var remote = ipv4("127.0.0.1", 17250)
        let short = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPConnect(c, $0, 8, nil, nil, nil, nil, &err) }
        }
        #expect(short == SOCKET_ERROR && err == WSAEFAULT)
        #expect(WSPConnect(c, nil, 16, nil, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEFAULT)
        var qos = QOS()
        qos.SendingFlowspec.ServiceType = ULONG(SERVICETYPE_GUARANTEED)
        let guaranteed = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPConnect(c, $0, 16, nil, nil, &qos, nil, &err) }
        }
        #expect(guaranteed == SOCKET_ERROR && err == WSAEOPNOTSUPP)
        let (unbound, _) = newSocket()
        #expect(connect(unbound, ipv4("127.0.0.1", 17250)) == WSAEINVAL)
        #expect(connect(0xDEAD_0000, ipv4("127.0.0.1", 17250)) == WSAENOTSOCK)
        _ = closeSocket(c); _ = closeSocket(unbound)
    }

    @Test func closeDuringPendingConnectAbortsPromptly() throws {
        // A listener that never accepts: the connect stays pending until closed.
        let (l, le) = listening(17260)
        defer { _ = WSACloseEvent(le) }
        let (c, ce) = nonblockingClient()
        defer { _ = WSACloseEvent(ce) }
        #expect(connect(c, ipv4("127.0.0.1", 17260)) == WSAEWOULDBLOCK)
        _ = try #require(waitEvents(l, le))
        let before = TestSwitch.counts
        #expect(closeSocket(c) == 0)
        #expect(TestSwitch.counts.closed == before.closed + 1)
        // The listener sees the caller withdraw: accept finds nothing.
        usleep(200_000)
        var err: Int32 = 0
        #expect(WSPAccept(l, nil, nil, nil, 0, &err) == SOCKET.invalid && err == WSAEWOULDBLOCK)
        _ = closeSocket(l)
    }

    @Test func peerCloseIsDetected() throws {
        let (l, le) = listening(17270)
        defer { _ = WSACloseEvent(le) }
        let (c, ce) = nonblockingClient()
        defer { _ = WSACloseEvent(ce) }
        #expect(connect(c, ipv4("127.0.0.1", 17270)) == WSAEWOULDBLOCK)
        _ = try #require(waitEvents(l, le))
        var err: Int32 = 0
        let a = WSPAccept(l, nil, nil, nil, 0, &err)
        _ = try #require(waitEvents(c, ce))
        #expect(closeSocket(a) == 0)
        var value: Int32 = 0
        var len: Int32 = 4
        var tries = 0
        repeat {
            usleep(10_000)
            _ = withUnsafeMutableBytes(of: &value) {
                WSPGetSockOpt(c, WS_SOL_SOCKET, WS_SO_ERROR, $0.baseAddress!.assumingMemoryBound(to: CChar.self), &len, &err)
            }
            tries += 1
        } while value == 0 && tries < 200
        #expect(value == WSAECONNRESET)
        // The socket's data stays until the switch closes it.
        var peer = sockaddr_in()
        var plen: Int32 = 16
        let rc = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPGetPeerName(c, $0, &plen, &err) }
        }
        #expect(rc == 0 && UInt16(bigEndian: peer.sin_port) == 17270)
        _ = closeSocket(c); _ = closeSocket(l)
    }

    @Test func cyclesLeaveHandlesAndFdsBalanced() async throws {
        let (l, le) = listening(17280, backlog: 200)
        defer { _ = WSACloseEvent(le) }
        let baseline = openFDCount()
        func cycle() -> Bool {
            let (c, _) = newSocket()
            _ = bind(c, ipv4("127.0.0.1", 0))
            let acceptor = Thread {
                var err: Int32 = 0
                for _ in 0..<500 {
                    let a = WSPAccept(l, nil, nil, nil, 0, &err)
                    if a != SOCKET.invalid { _ = closeSocket(a); return }
                    usleep(1000)
                }
            }
            let rc = connect(c, ipv4("127.0.0.1", 17280))
            acceptor.join()
            _ = closeSocket(c)
            return rc == 0
        }
        var ok = 0
        for _ in 0..<200 where cycle() { ok += 1 }
        #expect(ok == 200)
        usleep(200_000)   // closes finish on the engine thread
        #expect(openFDCount() == baseline)
        let counts = TestSwitch.counts
        #expect(counts.created == counts.closed + 1)   // + the listener
        _ = closeSocket(l)
    }
}

@Suite(.serialized)
struct ConcurrentCycleTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    @Test func twoHundredConcurrentCyclesBalance() throws {
        let (l, _) = newSocket()
        #expect(bind(l, ipv4("127.0.0.1", 17290)) == 0)
        var err: Int32 = 0
        #expect(WSPListen(l, 200, &err) == 0)
        let baseline = openFDCount()
        final class Counters: Sendable {
            let accepted = Atomic<Int>(0), connected = Atomic<Int>(0)
        }
        let counters = Counters()
        let acceptors = (0..<2).map { _ in
            Thread {
                var err: Int32 = 0
                var idle = 0
                while counters.accepted.load(ordering: .relaxed) < 200 && idle < 5000 {
                    let a = WSPAccept(l, nil, nil, nil, 0, &err)
                    if a != SOCKET.invalid {
                        counters.accepted.add(1, ordering: .relaxed)
                        _ = closeSocket(a)
                        idle = 0
                    } else {
                        idle += 1
                        usleep(1000)
                    }
                }
            }
        }
        let connectors = (0..<8).map { _ in
            Thread {
                for _ in 0..<25 {
                    let (c, _) = newSocket()
                    _ = bind(c, ipv4("127.0.0.1", 0))
                    if connect(c, ipv4("127.0.0.1", 17290)) == 0 { counters.connected.add(1, ordering: .relaxed) }
                    _ = closeSocket(c)
                }
            }
        }
        connectors.forEach { $0.join() }
        acceptors.forEach { $0.join() }
        #expect(counters.connected.load(ordering: .relaxed) == 200)
        #expect(counters.accepted.load(ordering: .relaxed) == 200)
        usleep(200_000)   // closes finish on the engine thread
        #expect(openFDCount() == baseline)
        _ = closeSocket(l)
        let counts = TestSwitch.counts
        #expect(counts.created == counts.closed && counts.bad == 0)
    }
}
