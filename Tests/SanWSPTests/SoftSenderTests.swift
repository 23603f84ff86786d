import Glibc
import Testing
import WinSock
@testable import SanWSP

/// The soft transport's sending half on its own, over a socket pair: queued frames leave in
/// order, several per system call, and each send or read response completes exactly once,
/// also when the kernel takes only part of a write.
struct SoftSenderTests {
    /// One queued frame and the bytes it must put on the wire.
    struct Planned {
        var frame: OutgoingFrame
        var bytes: [UInt8]
    }

    /// Frame k: a header of 8–48 bytes, then (by k) no payload, a message from one to six
    /// buffers (more than four leave Segments' inline storage), or a read response from a region.
    static func plan(_ count: Int, memory: UnsafeMutableRawPointer, memorySize: Int) -> [Planned] {
        var out: [Planned] = []
        var cursor = 0
        for k in 0..<count {
            var frame = OutgoingFrame()
            let headerLength = 8 * (1 + k % 6)
            var bytes: [UInt8] = []
            frame.header.length = headerLength
            frame.header.withBytes { p in
                for i in 0..<headerLength {
                    let b = UInt8(truncatingIfNeeded: k &* 13 &+ i)
                    p.storeBytes(of: b, toByteOffset: i, as: UInt8.self)
                    bytes.append(b)
                }
            }
            func take(_ n: Int) -> (UInt, Int) {
                if cursor + n > memorySize { cursor = 0 }
                defer { cursor += n }
                return (UInt(bitPattern: memory + cursor), n)
            }
            func payloadBytes(_ address: UInt, _ n: Int) {
                let p = UnsafeRawPointer(bitPattern: address)!
                for i in 0..<n { bytes.append(p.load(fromByteOffset: i, as: UInt8.self)) }
            }
            switch k % 3 {
            case 0:
                break   // header only (an acknowledgement, a read request)
            case 1:
                var segments = Segments()
                for b in 0..<(1 + k % 6) {
                    let (address, n) = take([0, 1, 700, 5000, 33000][(k + b) % 5])
                    segments.append(address, n)
                    payloadBytes(address, n)
                }
                frame.payload = .buffers(TransferOp(overlapped: UInt(1000 + k), segments: segments, kind: .send))
                frame.completesSend = true
            default:
                let (address, n) = take(20000 + k)
                frame.payload = .region(address, n, UInt64(k))
                payloadBytes(address, n)
            }
            out.append(Planned(frame: frame, bytes: bytes))
        }
        return out
    }

    /// Reads whatever the peer has, without waiting.
    static func drain(_ fd: Int32, into received: inout [UInt8]) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { return }
            received.append(contentsOf: chunk[0..<n])
        }
    }

    static func socketPair(sendBuffer: Int32?) -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        if var size = sendBuffer {
            _ = setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return (fds[0], fds[1])
    }

    @Test(arguments: [nil, 8192] as [Int32?])
    func framesLeaveInOrderAndCompleteOnce(sendBuffer: Int32?) throws {
        let memorySize = 1 << 20
        let memory = UnsafeMutableRawPointer.allocate(byteCount: memorySize, alignment: 16)
        defer { memory.deallocate() }
        for i in 0..<memorySize { memory.storeBytes(of: UInt8(truncatingIfNeeded: i &* 7 &+ i >> 8), toByteOffset: i, as: UInt8.self) }
        let (writer, reader) = Self.socketPair(sendBuffer: sendBuffer)
        defer { close(writer); close(reader) }

        let planned = Self.plan(60, memory: memory, memorySize: memorySize)
        var sender = SoftSender()
        for p in planned {
            sender.queue.append(p.frame)
            if case .region = p.frame.payload { sender.readResponsesQueued += 1 }
        }
        var received: [UInt8] = []
        var completed: [UInt] = [], unpinned: [UInt64] = []
        var rounds = 0
        loop: while rounds < 100_000 {
            rounds += 1
            switch sender.flushOne(fd: writer) {
            case .completed(let op): completed.append(op.overlapped)
            case .regionDone(let id): unpinned.append(id)
            case .drained: break loop
            case .blocked: Self.drain(reader, into: &received)
            case .failed(let e): Issue.record("write failed: \(e)"); break loop
            }
        }
        Self.drain(reader, into: &received)

        let expected = planned.flatMap(\.bytes)
        #expect(received.count == expected.count)
        let intact = received == expected   // (not in #expect: a failure would print both arrays)
        #expect(intact)
        #expect(completed == planned.compactMap { $0.frame.completes?.overlapped })
        #expect(unpinned == planned.compactMap {
            if case .region(_, _, let id) = $0.frame.payload { return id } else { return nil }
        })
        #expect(sender.queue.isEmpty && sender.headWritten == 0 && sender.readResponsesQueued == 0)
    }

    /// With room in the kernel, the first call writes every gathered frame in one sendmsg:
    /// the peer already has all their bytes when it returns the first completion.
    @Test func oneWriteCarriesSeveralFrames() throws {
        let memorySize = 1 << 20
        let memory = UnsafeMutableRawPointer.allocate(byteCount: memorySize, alignment: 16)
        defer { memory.deallocate() }
        memset(memory, 0x5a, memorySize)
        let (writer, reader) = Self.socketPair(sendBuffer: nil)
        defer { close(writer); close(reader) }
        // Ten frames (header-only ones and messages, about 45 KB): well inside one gather and
        // the socket buffer.
        let planned = Self.plan(10, memory: memory, memorySize: 4096).enumerated().map { k, p in
            var p = p
            if k > 0, case .region = p.frame.payload {
                p.frame.payload = .none   // keep it small: header only
                p.bytes = Array(p.bytes.prefix(p.frame.header.length))
            }
            return p
        }
        var sender = SoftSender()
        planned.forEach { sender.queue.append($0.frame) }
        let first = sender.flushOne(fd: writer)
        guard case .completed = first else {
            Issue.record("expected the first message to complete, got \(first)")
            return
        }
        var received: [UInt8] = []
        Self.drain(reader, into: &received)
        let expected = planned.flatMap(\.bytes)
        #expect(received.count == expected.count)
        let intact = received == expected
        #expect(intact)
    }
}
