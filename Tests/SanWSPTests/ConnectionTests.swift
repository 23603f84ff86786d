import Glibc
import Synchronization
import Testing
import WinSock
@testable import SanWSP

/// What condition functions saw and should answer (condition functions are C callbacks, so
/// they talk to the test through this).
enum ConditionScript {
    struct State {
        var verdict: Int32 = CF_ACCEPT
        var calleeData: [UInt8] = []
        var sawCallerData: [UInt8]? = nil
        var sawCallerPort: UInt16 = 0
        var calls = 0
    }
    static let state = Mutex(State())

    static let function: LPCONDITIONPROC = { callerId, callerData, _, _, _, calleeData, _, _ in
        ConditionScript.state.withLock { s -> Int32 in
            s.calls += 1
            if let id = callerId?.pointee, let buf = id.buf {
                let sin = UnsafeRawPointer(buf).loadUnaligned(as: sockaddr_in.self)
                s.sawCallerPort = UInt16(bigEndian: sin.sin_port)
            }
            if let data = callerData?.pointee, let buf = data.buf {
                s.sawCallerData = Array(UnsafeRawBufferPointer(start: buf, count: Int(data.len)))
            } else {
                s.sawCallerData = []
            }
            if let out = calleeData {
                let n = min(Int(out.pointee.len), s.calleeData.count)
                s.calleeData.withUnsafeBytes {
                    UnsafeMutableRawPointer(out.pointee.buf!).copyMemory(from: $0.baseAddress!, byteCount: n)
                }
                out.pointee.len = ULONG(n)
            }
            return s.verdict
        }
    }
}

func eventSelect(_ s: SOCKET, _ event: WSAEVENT?, _ mask: Int32) -> Int32 {
    var err: Int32 = 0
    return WSPEventSelect(s, event, mask, &err) == 0 ? 0 : err
}

/// Waits for the event, then collects the socket's network events.
func waitEvents(_ s: SOCKET, _ event: WSAEVENT?, timeoutMs: DWORD = 5000) -> WSANETWORKEVENTS? {
    var handles = [event]
    guard WSAWaitForMultipleEvents(1, &handles, 0, timeoutMs, 0) == WSA_WAIT_EVENT_0 else { return nil }
    var ne = WSANETWORKEVENTS()
    var err: Int32 = 0
    guard WSPEnumNetworkEvents(s, event, &ne, &err) == 0 else { return nil }
    return ne
}

func errorCode(_ ne: WSANETWORKEVENTS, _ bit: Int32) -> Int32 {
    withUnsafeBytes(of: ne.iErrorCode) { $0.bindMemory(to: Int32.self)[Int(bit)] }
}

func connect(_ s: SOCKET, _ remote: sockaddr_in, callerData: [UInt8]? = nil,
             callee: UnsafeMutablePointer<WSABUF>? = nil) -> Int32 {
    var remote = remote
    var err: Int32 = 0
    var data = callerData ?? []
    let rc = data.withUnsafeMutableBytes { raw -> Int32 in
        var caller = WSABUF(len: ULONG(raw.count), buf: raw.baseAddress?.assumingMemoryBound(to: CChar.self))
        return withUnsafeMutablePointer(to: &caller) { callerPtr in
            withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    WSPConnect(s, $0, 16, callerData == nil ? nil : callerPtr, callee, nil, nil, &err)
                }
            }
        }
    }
    return rc == 0 ? 0 : err
}

@Suite(.serialized)
struct ConnectionTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
        ConditionScript.state.withLock { $0 = .init() }
    }

    @Test func nonblockingConnectAcceptWithConnectData() throws {
        let (listener, _) = newSocket()
        #expect(bind(listener, ipv4("127.0.0.1", 17100)) == 0)
        var err: Int32 = 0
        #expect(WSPListen(listener, 5, &err) == 0)
        let acceptEvent = WSACreateEvent(), connectEvent = WSACreateEvent()
        defer { _ = WSACloseEvent(acceptEvent); _ = WSACloseEvent(connectEvent) }
        #expect(eventSelect(listener, acceptEvent, Int32(FD_ACCEPT)) == 0)

        let (client, _) = newSocket()
        #expect(bind(client, ipv4("127.0.0.1", 17101)) == 0)
        #expect(eventSelect(client, connectEvent, Int32(FD_CONNECT)) == 0)
        var calleeStorage = [CChar](repeating: 0, count: 48)
        var callee = calleeStorage.withUnsafeMutableBufferPointer { WSABUF(len: 48, buf: $0.baseAddress) }
        ConditionScript.state.withLock { $0.calleeData = Array("world".utf8) }
        #expect(connect(client, ipv4("127.0.0.1", 17100), callerData: Array("hello".utf8), callee: &callee) == WSAEWOULDBLOCK)

        let accepted = try #require(waitEvents(listener, acceptEvent))
        #expect(accepted.lNetworkEvents == FD_ACCEPT && errorCode(accepted, FD_ACCEPT_BIT) == 0)
        var peer = sockaddr_in()
        var peerLen: Int32 = 16
        let server = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                WSPAccept(listener, $0, &peerLen, ConditionScript.function, 0, &err)
            }
        }
        #expect(server != SOCKET.invalid)
        #expect(UInt16(bigEndian: peer.sin_port) == 17101)
        let seen = ConditionScript.state.withLock { ($0.calls, $0.sawCallerData, $0.sawCallerPort) }
        #expect(seen.0 == 1 && seen.1 == Array("hello".utf8) && seen.2 == 17101)

        let connected = try #require(waitEvents(client, connectEvent))
        #expect(connected.lNetworkEvents == FD_CONNECT && errorCode(connected, FD_CONNECT_BIT) == 0)
        #expect(callee.len == 5)
        #expect(calleeStorage.prefix(5).map { UInt8(bitPattern: $0) } == Array("world".utf8))
        #expect(connect(client, ipv4("127.0.0.1", 17100)) == WSAEISCONN)
        // Nothing left: accept would block.
        #expect(WSPAccept(listener, nil, nil, nil, 0, &err) == SOCKET.invalid && err == WSAEWOULDBLOCK)
        for s in [client, server, listener] { #expect(closeSocket(s) == 0) }
        let counts = TestSwitch.counts
        #expect(counts.created == counts.closed && counts.bad == 0)
    }

    @Test func rejectAndNoListener() throws {
        let (listener, _) = newSocket()
        #expect(bind(listener, ipv4("127.0.0.1", 17110)) == 0)
        var err: Int32 = 0
        #expect(WSPListen(listener, 5, &err) == 0)
        let acceptEvent = WSACreateEvent()
        defer { _ = WSACloseEvent(acceptEvent) }
        #expect(eventSelect(listener, acceptEvent, Int32(FD_ACCEPT)) == 0)
        ConditionScript.state.withLock { $0.verdict = CF_REJECT }
        let connector = Thread {
            let (c, _) = newSocket()
            _ = bind(c, ipv4("127.0.0.1", 0))
            let rc = connect(c, ipv4("127.0.0.1", 17110))   // blocking: no event select
            ConditionScript.state.withLock { $0.calleeData = [UInt8(truncatingIfNeeded: rc), UInt8(truncatingIfNeeded: rc >> 8)] }
            _ = closeSocket(c)
        }
        _ = try #require(waitEvents(listener, acceptEvent))
        #expect(WSPAccept(listener, nil, nil, ConditionScript.function, 0, &err) == SOCKET.invalid)
        #expect(err == WSAECONNREFUSED)
        connector.join()
        let rc = ConditionScript.state.withLock { Int32($0.calleeData[0]) | Int32($0.calleeData[1]) << 8 }
        #expect(rc == WSAECONNREFUSED)
        // No provider listens on that port: a code that lets the switch fall back to TCP.
        let (c2, _) = newSocket()
        _ = bind(c2, ipv4("127.0.0.1", 0))
        #expect(connect(c2, ipv4("127.0.0.1", 17111)) == WSAEADDRNOTAVAIL)
        #expect(connect(c2, ipv4("0.0.0.0", 17111)) == WSAEADDRNOTAVAIL)
        #expect(connect(c2, ipv4("127.0.0.1", 0)) == WSAEADDRNOTAVAIL)
        #expect(connect(listener, ipv4("127.0.0.1", 17111)) == WSAEINVAL)
        _ = closeSocket(c2)
        _ = closeSocket(listener)
    }
}

@Suite(.serialized)
struct IPv6ConnectionTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    @Test func connectAcceptAndMessageOverIPv6() throws {
        let (l, _) = newSocket(AF_INET6)
        #expect(bind(l, ipv6("::1", 17600)) == 0)
        var err: Int32 = 0
        #expect(WSPListen(l, 5, &err) == 0)
        let (c, _) = newSocket(AF_INET6)
        #expect(bind(c, ipv6("::1", 0)) == 0)
        let acceptor = Thread {
            var err: Int32 = 0
            for _ in 0..<2000 {
                let a = WSPAccept(l, nil, nil, nil, 0, &err)
                if a != SOCKET.invalid { AcceptedBox.value.withLock { $0 = a }; return }
                usleep(1000)
            }
        }
        var remote = ipv6("::1", 17600)
        let rc = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                WSPConnect(c, $0, Int32(MemoryLayout<sockaddr_in6>.size), nil, nil, nil, nil, &err)
            }
        }
        acceptor.join()
        let s = AcceptedBox.value.withLock { v -> SOCKET in defer { v = .invalid }; return v }
        #expect(rc == 0 && s != SOCKET.invalid)
        // The accepted socket reports the caller's IPv6 address.
        var peer = sockaddr_in6()
        var len = Int32(MemoryLayout<sockaddr_in6>.size)
        let named = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPGetPeerName(s, $0, &len, &err) }
        }
        #expect(named == 0 && Int32(peer.sin6_family) == AF_INET6 && len == 28)
        let a = Buffer(4096, fill: 0x61), b = Buffer(4096)
        _ = register(c, a, MEM_READ)
        _ = register(s, b, MEM_WRITE)
        let r = Op(), w = Op()
        #expect(recv(s, r, [(b.pointer, 4096)]) == WSA_IO_PENDING)
        #expect(send(c, w, [(a.pointer, 3000)]) == WSA_IO_PENDING)
        #expect(r.wait(s) == (true, 3000, 0))
        #expect(Array(b.bytes[0..<3000]) == [UInt8](repeating: 0x61, count: 3000))
        for x in [c, s, l] { _ = closeSocket(x) }
    }
}
