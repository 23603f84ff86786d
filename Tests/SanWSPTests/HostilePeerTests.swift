import Glibc
import Testing
import WinSock
@testable import SanWSP

/// A raw kernel TCP peer that speaks the soft wire protocol by hand, to feed the provider
/// malformed, oversized, out-of-order and forged frames.
struct RawPeer {
    let fd: Int32

    static func connect(toAppPort port: UInt16) -> RawPeer? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = ipv4("127.0.0.1", SoftConfig().kernelPort(for: port))
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, 16) }
        }
        guard rc == 0 else { _ = Glibc.close(fd); return nil }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return RawPeer(fd: fd)
    }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    func hello(port: UInt16, data: [UInt8] = []) {
        send(SoftWire.encodeHello(.init(
            targetPort: port, caller: SocketAddress(storage: .v4(address: UInt32(0x7F00_0001).bigEndian, port: UInt16(40000).bigEndian)),
            callerData: data)))
    }

    /// Reads until `n` bytes or end of stream; returns what arrived.
    func read(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, n - got, 0) }
            if r <= 0 { break }
            got += r
        }
        return Array(out.prefix(got))
    }

    /// True once the provider closed its end.
    func closedByProvider() -> Bool {
        var b: UInt8 = 0
        for _ in 0..<100 {
            let r = recv(fd, &b, 1, 0)
            if r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return true }
        }
        return false
    }

    func close() { _ = Glibc.close(fd) }
}

func frame(_ type: UInt8, _ payload: [UInt8], reserved: UInt8 = 0, length: UInt32? = nil) -> [UInt8] {
    var out: [UInt8] = [type, 0, reserved, 0]
    SoftWire.appendU32(length ?? UInt32(payload.count), to: &out)
    return out + payload
}

@Suite(.serialized)
struct HostilePeerTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    /// A listening provider socket and a raw peer it accepted; returns (listener, accepted).
    func acceptedRaw(port: UInt16) throws -> (SOCKET, SOCKET, RawPeer) {
        let (l, _) = newSocket()
        _ = bind(l, ipv4("127.0.0.1", port))
        var err: Int32 = 0
        _ = WSPListen(l, 5, &err)
        let peer = try #require(RawPeer.connect(toAppPort: port))
        peer.hello(port: port)
        var accepted = SOCKET.invalid
        for _ in 0..<200 where accepted == .invalid {
            accepted = WSPAccept(l, nil, nil, nil, 0, &err)
            if accepted == .invalid { usleep(5000) }
        }
        try #require(accepted != .invalid)
        let answer = peer.read(SoftWire.headerSize + SoftWire.acceptFixedSize)
        #expect(answer.first == SoftWire.FrameType.accept.rawValue)
        return (l, accepted, peer)
    }

    static let cases: [(String, [UInt8])] = [
        ("unknown type", frame(99, [1, 2, 3])),
        ("reserved bits", frame(16, [1], reserved: 1)),
        ("oversized message", frame(16, [], length: 0xFFFF_FFFF)),
        ("unsolicited ack", frame(20, [UInt8](repeating: 0, count: 16))),
        ("rdma write length mismatch", frame(17, [UInt8](repeating: 0, count: 32), length: 40)),
        ("hello after accept", frame(1, [UInt8](repeating: 0, count: 28))),
        ("forged region", frame(18, [UInt8](repeating: 7, count: 24) + [0, 0, 0, 0, 0, 0, 0, 8])),
    ]

    @Test(arguments: 0..<7)
    func malformedFrameDropsTheConnection(_ index: Int) throws {
        let (name, bytes) = Self.cases[index]
        let (l, s, peer) = try acceptedRaw(port: UInt16(17500 + index))
        defer { peer.close(); _ = closeSocket(s); _ = closeSocket(l) }
        let b = Buffer(4096, fill: 0x11)
        _ = register(s, b, MEM_WRITE)
        let r = Op()
        #expect(recv(s, r, [(b.pointer, 4096)]) == WSA_IO_PENDING)
        peer.send(bytes)
        let result = r.wait(s)
        #expect(!result.ok && [WSAECONNABORTED, WSAECONNRESET].contains(result.error), "\(name)")
        #expect(peer.closedByProvider(), "\(name)")
        #expect(b.bytes == [UInt8](repeating: 0x11, count: 4096), "\(name)")   // nothing placed
    }

    @Test func badHandshakesNeverReachAccept() throws {
        let (l, _) = newSocket()
        _ = bind(l, ipv4("127.0.0.1", 17520))
        var err: Int32 = 0
        _ = WSPListen(l, 5, &err)
        let garbage = try #require(RawPeer.connect(toAppPort: 17520))
        garbage.send([UInt8](repeating: 0xFF, count: 64))
        let tooMuchData = try #require(RawPeer.connect(toAppPort: 17520))
        var hello = SoftWire.encodeHello(.init(targetPort: 17520, caller: SocketAddress(storage: .v4(address: 0, port: 0)), callerData: []))
        hello[8 + 9] = 200   // claims 200 bytes of caller data
        tooMuchData.send(hello)
        let wrongPort = try #require(RawPeer.connect(toAppPort: 17520))
        wrongPort.hello(port: 17521)
        #expect(garbage.closedByProvider())
        #expect(tooMuchData.closedByProvider())
        let reject = wrongPort.read(SoftWire.headerSize + 4)
        #expect(reject.first == SoftWire.FrameType.reject.rawValue && reject.last == UInt8(RejectReason.noListener.rawValue))
        #expect(WSPAccept(l, nil, nil, nil, 0, &err) == SOCKET.invalid && err == WSAEWOULDBLOCK)
        [garbage, tooMuchData, wrongPort].forEach { $0.close() }
        _ = closeSocket(l)
    }
}
