import Glibc
import Testing
import WinSock
@testable import SanWSP

/// Tests of the exported C functions. The provider is process-wide, so they run one at a time.
@Suite(.serialized)
struct ProviderTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
    }

    @Test func versionNegotiation() {
        var data = WSPDATA()
        var procs = WSPPROC_TABLE()
        var upcalls = TestSwitch.table
        #expect(WSPStartupEx(0x0102, &data, nil, &upcalls, &procs) == WSAVERNOTSUPPORTED)
        #expect(WSPStartupEx(0x0101, &data, nil, &upcalls, &procs) == WSAVERNOTSUPPORTED)
        #expect(WSPStartupEx(0x0202, nil, nil, &upcalls, &procs) == WSAEFAULT)
        #expect(WSPStartupEx(0x0202, &data, nil, nil, &procs) == WSAEFAULT)
        #expect(WSPStartupEx(0x0202, &data, nil, &upcalls, nil) == WSAEFAULT)
        var incomplete = TestSwitch.table
        incomplete.lpWPUCompleteOverlappedRequest = nil
        #expect(WSPStartupEx(0x0202, &data, nil, &incomplete, &procs) == WSAEFAULT)
        #expect(WSPStartupEx(0x0302, &data, nil, &upcalls, &procs) == 0)   // 2.3 → 2.2
        #expect(data.wVersion == 0x0202 && data.wHighVersion == 0x0202)
        let description = withUnsafeBytes(of: data.szDescription) {
            String(decoding: $0.bindMemory(to: UInt16.self).prefix { $0 != 0 }, as: UTF16.self)
        }
        #expect(description.hasPrefix("sanwsp"))
        #expect(procs.lpWSPSocket != nil && procs.lpWSPStringToAddress != nil)
        var err: Int32 = 0
        #expect(WSPCleanup(&err) == 0)
        #expect(WSPCleanup(&err) == SOCKET_ERROR && err == WSANOTINITIALISED)
    }

    @Test func cleanupIsReferenceCounted() {
        TestSwitch.start()
        TestSwitch.start()
        var err: Int32 = 0
        #expect(WSPCleanup(&err) == 0)
        let (s, e) = newSocket()
        #expect(e == 0 && s != SOCKET.invalid)   // still started after one of two cleanups
        #expect(WSPCleanup(&err) == 0)
        #expect(TestSwitch.counts.closed == 1)   // last cleanup closed the open socket
        #expect(WSPCleanup(&err) == SOCKET_ERROR && err == WSANOTINITIALISED)
        let (s2, e2) = newSocket()
        #expect(s2 == SOCKET.invalid && e2 == WSANOTINITIALISED)
    }

    @Test func procTableSlotsPointAtExports() {
        let procs = TestSwitch.start()
        let slots = withUnsafeBytes(of: procs) { Array($0.bindMemory(to: UInt.self)) }
        #expect(slots.count == 30)
        #expect(slots.allSatisfy { $0 != 0 })
        let socketFn: LPWSPSOCKET = WSPSocket
        #expect(slots[28] == unsafeBitCast(socketFn, to: UInt.self))
        var err: Int32 = 0
        // A slot the switch never uses answers WSAEOPNOTSUPP.
        #expect(procs.lpWSPShutdown!(1, 0, &err) == SOCKET_ERROR && err == WSAEOPNOTSUPP)
    }

    @Test func socketArgumentsAreValidated() {
        TestSwitch.start()
        var err: Int32 = 0
        let overlapped = DWORD(WSA_FLAG_OVERLAPPED)
        func attempt(_ af: Int32, _ type: Int32, _ proto: Int32, _ g: GROUP, _ flags: DWORD) -> Int32 {
            WSPSocket(af, type, proto, nil, g, flags, &err) == SOCKET.invalid ? err : 0
        }
        #expect(attempt(AF_UNIX, 1, 6, 0, overlapped) == WSAEAFNOSUPPORT)
        #expect(attempt(23, 1, 6, 0, overlapped) == WSAEAFNOSUPPORT)
        #expect(attempt(AF_INET, 2, 6, 0, overlapped) == WSAESOCKTNOSUPPORT)
        #expect(attempt(AF_INET, 1, 17, 0, overlapped) == WSAEPROTOTYPE)
        #expect(attempt(AF_INET, 1, 99, 0, overlapped) == WSAEPROTONOSUPPORT)
        #expect(attempt(AF_INET, 1, 6, 0, 0) == WSAEINVAL)
        #expect(attempt(AF_INET, 1, 6, 0, overlapped | DWORD(WSA_FLAG_MULTIPOINT_C_ROOT)) == WSAEINVAL)
        #expect(attempt(AF_INET, 1, 6, 7, overlapped) == WSAEINVAL)
        #expect(TestSwitch.counts.created == 0)
        var duplicated = WSAPROTOCOL_INFOW()
        duplicated.dwProviderReserved = 42
        #expect(WSPSocket(AF_INET, 1, 6, &duplicated, 0, overlapped, &err) == SOCKET.invalid && err == WSAEINVAL)

        var info = WSAPROTOCOL_INFOW()
        info.dwCatalogEntryId = 1001
        let s = WSPSocket(AF_INET6, 1, 6, &info, 0, overlapped, &err)
        #expect(s != SOCKET.invalid && s != 0 && err == 0)
        #expect(TestSwitch.state.withLock { $0.lastCreateCatalog } == 1001)
        #expect(TestSwitch.state.withLock { $0.live.values.contains(DWORD_PTR(s)) })
        #expect(closeSocket(s) == 0)
        TestSwitch.state.withLock { $0.failNextCreate = WSAEMFILE }
        #expect(attempt(AF_INET, 1, 6, 0, overlapped) == WSAEMFILE)
        #expect(TestSwitch.counts == (1, 1, 0))
    }

    @Test func closeMakesTheDescriptorInvalid() {
        TestSwitch.start()
        let (s, _) = newSocket()
        #expect(closeSocket(s) == 0)
        #expect(TestSwitch.counts == (1, 1, 0))
        #expect(closeSocket(s) == WSAENOTSOCK)
        #expect(closeSocket(SOCKET.invalid) == WSAENOTSOCK)
        #expect(closeSocket(0) == WSAENOTSOCK)
        #expect(closeSocket(0x1234_5678) == WSAENOTSOCK)
        #expect(bind(s, ipv4("127.0.0.1", 0)) == WSAENOTSOCK)
        #expect(TestSwitch.counts == (1, 1, 0))
        var seen = Set<SOCKET>()
        for _ in 0..<1000 {
            let (d, _) = newSocket()
            #expect(seen.insert(d).inserted)
            _ = closeSocket(d)
        }
        #expect(TestSwitch.counts.created == TestSwitch.counts.closed)
    }

    @Test func bindRules() {
        TestSwitch.start()
        let (a, _) = newSocket()
        #expect(bind(a, ipv4("127.0.0.1", 0), length: 15) == WSAEFAULT)
        var err: Int32 = 0
        #expect(WSPBind(a, nil, 16, &err) == SOCKET_ERROR && err == WSAEFAULT)
        #expect(bind(a, ipv6("::1", 0)) == WSAEFAULT)          // wrong family for the socket
        #expect(bind(a, ipv4("192.0.2.1", 5000)) == WSAEADDRNOTAVAIL)
        #expect(bind(a, ipv4("127.0.0.1", 17001)) == 0)
        #expect(bind(a, ipv4("127.0.0.1", 17002)) == WSAEINVAL)   // already bound
        let (b, _) = newSocket()
        #expect(bind(b, ipv4("127.0.0.1", 17001)) == WSAEADDRINUSE)
        #expect(bind(b, ipv4("0.0.0.0", 17001)) == WSAEADDRINUSE)
        #expect(closeSocket(a) == 0)
        #expect(bind(b, ipv4("0.0.0.0", 17001)) == 0)
        let (c, _) = newSocket()
        #expect(bind(c, ipv4("127.0.0.1", 0)) == 0)
        var name = sockaddr_in()
        var len: Int32 = 16
        let rc = withUnsafeMutablePointer(to: &name) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPGetSockName(c, $0, &len, &err) }
        }
        #expect(rc == 0 && len == 16 && name.sin_port != 0)
        #expect(name.sin_addr.s_addr == ipv4("127.0.0.1", 0).sin_addr.s_addr)
        len = 8
        let short = withUnsafeMutablePointer(to: &name) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPGetSockName(c, $0, &len, &err) }
        }
        #expect(short == SOCKET_ERROR && err == WSAEFAULT)
        let (six, _) = newSocket(AF_INET6)
        #expect(bind(six, ipv6("::1", 0), length: 16) == WSAEFAULT)
        #expect(bind(six, ipv6("::1", 0)) == 0)
        // SO_REUSEADDR on both sockets allows the same address.
        let (r1, _) = newSocket(), (r2, _) = newSocket()
        var on: Int32 = 1
        for r in [r1, r2] {
            _ = withUnsafeBytes(of: &on) {
                WSPSetSockOpt(r, WS_SOL_SOCKET, WS_SO_REUSEADDR,
                              $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, &err)
            }
        }
        #expect(bind(r1, ipv4("127.0.0.1", 17010)) == 0)
        #expect(bind(r2, ipv4("127.0.0.1", 17010)) == 0)
        let (u, _) = newSocket()
        len = 16
        let unbound = withUnsafeMutablePointer(to: &name) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPGetSockName(u, $0, &len, &err) }
        }
        #expect(unbound == SOCKET_ERROR && err == WSAEINVAL)
        let peer = withUnsafeMutablePointer(to: &name) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { WSPGetPeerName(u, $0, &len, &err) }
        }
        #expect(peer == SOCKET_ERROR && err == WSAENOTCONN)
    }

    @Test func socketOptions() {
        TestSwitch.start()
        let (s, _) = newSocket()
        var err: Int32 = 0
        var value: DWORD = 0
        var len: Int32 = 4
        func get(_ level: Int32, _ name: Int32, _ p: UnsafeMutableRawPointer?, _ l: UnsafeMutablePointer<Int32>?) -> Int32 {
            WSPGetSockOpt(s, level, name, p?.assumingMemoryBound(to: CChar.self), l, &err) == 0 ? 0 : err
        }
        #expect(get(WS_SOL_SOCKET, WS_SO_MAX_MSG_SIZE, &value, &len) == 0 && value == 0x7FFF_FFFF)
        #expect(get(WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, &value, &len) == 0 && value == 1 << 20)  // soft default
        len = 2
        #expect(get(WS_SOL_SOCKET, WS_SO_MAX_RDMA_SIZE, &value, &len) == WSAEFAULT && len == 4)
        #expect(get(WS_SOL_SOCKET, WS_SO_MAX_RDMA_SIZE, nil, &len) == WSAEFAULT)
        #expect(get(WS_SOL_SOCKET, WS_SO_MAX_RDMA_SIZE, &value, nil) == WSAEFAULT)
        #expect(get(WS_SOL_SOCKET, 0x1234, &value, &len) == WSAENOPROTOOPT)
        #expect(get(Int32(IPPROTO_TCP), 0x77, &value, &len) == WSAENOPROTOOPT)
        #expect(get(99, WS_SO_MAX_MSG_SIZE, &value, &len) == WSAEINVAL)
        var info = WSAPROTOCOL_INFOW()
        len = Int32(MemoryLayout<WSAPROTOCOL_INFOW>.size)
        #expect(get(WS_SOL_SOCKET, WS_SO_PROTOCOL_INFOW, &info, &len) == 0)
        #expect(info.iAddressFamily == AF_INET && info.iSocketType == 1 && info.iProtocol == 6)
        #expect(info.dwServiceFlags1 & DWORD(XP1_IFS_HANDLES) == 0)
        #expect(info.dwServiceFlags1 & DWORD(XP1_MESSAGE_ORIENTED) != 0)

        var threshold: DWORD = 12345
        let set = withUnsafeBytes(of: &threshold) {
            WSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE,
                          $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, &err)
        }
        #expect(set == 0)
        len = 4
        #expect(get(WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, &value, &len) == 0 && value == 12345)
        let readOnly = withUnsafeBytes(of: &threshold) {
            WSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_MAX_MSG_SIZE,
                          $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, &err)
        }
        #expect(readOnly == SOCKET_ERROR && err == WSAENOPROTOOPT)
        var negative: Int32 = -5
        let bad = withUnsafeBytes(of: &negative) {
            WSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_SNDBUF,
                          $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, &err)
        }
        #expect(bad == SOCKET_ERROR && err == WSAEINVAL)
        #expect(WSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_SNDBUF, nil, 4, &err) == SOCKET_ERROR && err == WSAEFAULT)
        let short = withUnsafeBytes(of: &negative) {
            WSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE,
                          $0.baseAddress!.assumingMemoryBound(to: CChar.self), 2, &err)
        }
        #expect(short == SOCKET_ERROR && err == WSAEFAULT)
    }

    @Test func ioctls() {
        TestSwitch.start()
        let (s, _) = newSocket()
        var err: Int32 = 0
        var returned: DWORD = 0
        // Size probe, then the real query.
        #expect(WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, nil, 0, nil, 0, &returned, nil, nil, nil, &err) == SOCKET_ERROR)
        #expect(err == WSAEFAULT && returned >= 24)
        var buffer = [UInt8](repeating: 0, count: Int(returned))
        let rc = buffer.withUnsafeMutableBytes {
            WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, nil, 0, $0.baseAddress, DWORD($0.count), &returned, nil, nil, nil, &err)
        }
        #expect(rc == 0)
        let loopbackSeen = buffer.withUnsafeMutableBytes { raw -> Bool in
            let list = raw.baseAddress!.assumingMemoryBound(to: SOCKET_ADDRESS_LIST.self)
            let count = Int(list.pointee.iAddressCount)
            let entries = (raw.baseAddress! + 8).assumingMemoryBound(to: SOCKET_ADDRESS.self)
            var seen = false
            for i in 0..<count {
                let sa = UnsafeRawPointer(entries[i].lpSockaddr!)
                #expect(sa >= UnsafeRawPointer(raw.baseAddress!) && sa + 16 <= UnsafeRawPointer(raw.baseAddress! + raw.count))
                #expect(entries[i].iSockaddrLength == 16)
                let sin = sa.loadUnaligned(as: sockaddr_in.self)
                if sin.sin_addr.s_addr == UInt32(0x7F00_0001).bigEndian { seen = true }
            }
            return seen
        }
        #expect(loopbackSeen)
        #expect(WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, nil, 0, nil, 0, nil, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEFAULT)

        var guid: [UInt8] = ExtensionFunction.rdmaWrite.guidBytes
        var pointer: UnsafeRawPointer? = nil
        let ext = WSPIoctl(SOCKET.invalid, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, 16, &pointer, 8, &returned, nil, nil, nil, &err)
        #expect(ext == 0 && returned == 8)
        let rdmaWriteFn: LPFN_WSPRDMAWRITE = WSPRdmaWrite
        #expect(pointer == unsafeBitCast(rdmaWriteFn, to: UnsafeRawPointer.self))
        for function in ExtensionFunction.allCases {
            var g = function.guidBytes
            #expect(WSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, 16, &pointer, 8, &returned, nil, nil, nil, &err) == 0)
            #expect(pointer != nil)
        }
        #expect(WSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, 16, &pointer, 7, &returned, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEFAULT)
        #expect(WSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, 15, &pointer, 8, &returned, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEFAULT)
        guid[0] ^= 0xFF
        #expect(WSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, 16, &pointer, 8, &returned, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEINVAL)
        #expect(WSPIoctl(s, 0x1234_5678, nil, 0, nil, 0, &returned, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEINVAL)
        _ = closeSocket(s)
        #expect(WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, nil, 0, nil, 0, &returned, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAENOTSOCK)
    }

    @Test func nullErrnoNeverCrashes() {
        #expect(WSPCleanup(nil) == SOCKET_ERROR)
        TestSwitch.start()
        #expect(WSPSocket(0, 0, 0, nil, 0, 0, nil) == SOCKET.invalid)
        #expect(WSPCloseSocket(77, nil) == SOCKET_ERROR)
        #expect(WSPBind(77, nil, 0, nil) == SOCKET_ERROR)
        #expect(WSPGetSockOpt(77, 0, 0, nil, nil, nil) == SOCKET_ERROR)
    }

    @Test func concurrentSocketsBalanceHandles() async {
        TestSwitch.start()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<500 {
                        let (s, e) = newSocket()
                        guard e == 0 else { Issue.record("socket failed \(e)"); return }
                        let b = bind(s, ipv4("127.0.0.1", 0))
                        if b != 0 { Issue.record("bind failed \(b)") }
                        if closeSocket(s) != 0 { Issue.record("close failed") }
                    }
                }
            }
        }
        let counts = TestSwitch.counts
        #expect(counts.created == 2000 && counts.closed == 2000 && counts.bad == 0)
        #expect(Provider.shared.sockets.liveCount == 0)
    }
}
