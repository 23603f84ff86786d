import Glibc
import Testing
import WinSock
@testable import SanWSP

/// A thread waiting in WSPGetOverlappedResult(fWait = TRUE) drives a soft connection itself and
/// keeps the engine off the socket; once it stops, the engine must take over again. These check
/// that completions nobody waits for still arrive (polled with fWait = FALSE) after a run of
/// waits, within the documented bound (about 10 ms; 500 ms allowed here for a loaded machine).
@Suite(.serialized)
struct ProgressHandOffTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    /// Polls (fWait = FALSE) until done; the seconds it took, or nil after 5 s.
    private func poll(_ s: SOCKET, _ op: Op) -> (seconds: Double, bytes: DWORD, error: Int32)? {
        let start = Syscall.monotonicNanoseconds()
        while true {
            var bytes: DWORD = 0, flags: DWORD = 0
            var err: Int32 = 0
            if WSPGetOverlappedResult(s, op.ov, &bytes, 0, &flags, &err) != 0 || err != WSA_IO_INCOMPLETE {
                return (Double(Syscall.monotonicNanoseconds() - start) / 1e9, bytes, err)
            }
            if Syscall.monotonicNanoseconds() - start > 5_000_000_000 { return nil }
            usleep(200)
        }
    }

    /// 200 messages each way with both sides waiting (driving), then one message whose receive
    /// nobody waits for.
    private func runOfWaits(_ pair: ConnectedPair, _ sendBuf: Buffer, _ recvBuf: Buffer) {
        for i in 0..<200 {
            let r = Op(), s = Op()
            #expect(recv(pair.server, r, [(recvBuf.pointer, 4096)]) == WSA_IO_PENDING)
            sendBuf.set([UInt8(truncatingIfNeeded: i)])
            #expect(send(pair.client, s, [(sendBuf.pointer, 64)]) == WSA_IO_PENDING)
            #expect(s.wait(pair.client) == (true, 64, 0))
            #expect(r.wait(pair.server) == (true, 64, 0))
        }
    }

    @Test func receiveNobodyWaitsForAfterARunOfWaits() throws {
        let pair = try #require(ConnectedPair.make(port: 17620))
        defer { pair.close() }
        let sendBuf = Buffer(4096), recvBuf = Buffer(4096)
        _ = register(pair.client, sendBuf, MEM_READ)
        _ = register(pair.server, recvBuf, MEM_WRITE)
        runOfWaits(pair, sendBuf, recvBuf)
        let r = Op(), s = Op()
        #expect(recv(pair.server, r, [(recvBuf.pointer, 4096)]) == WSA_IO_PENDING)
        sendBuf.set(Array(repeating: 0x5A, count: 1000))
        #expect(send(pair.client, s, [(sendBuf.pointer, 1000)]) == WSA_IO_PENDING)
        let got = try #require(poll(pair.server, r))
        #expect(got.error == 0 && got.bytes == 1000)
        #expect(got.seconds < 0.5)
        #expect(Array(recvBuf.bytes[0..<1000]) == Array(repeating: 0x5A, count: 1000))
        #expect(s.wait(pair.client) == (true, 1000, 0))
    }

    /// The message arrives while no receive is posted (too long to be held: the receiver
    /// pauses); the receive posted afterwards by a thread that does not wait must complete.
    @Test func receivePostedAfterAPauseCompletesWithoutAWait() throws {
        let pair = try #require(ConnectedPair.make(port: 17630))
        defer { pair.close() }
        let sendBuf = Buffer(8192), recvBuf = Buffer(8192)
        _ = register(pair.client, sendBuf, MEM_READ)
        _ = register(pair.server, recvBuf, MEM_WRITE)
        runOfWaits(pair, sendBuf, recvBuf)
        let s = Op()
        sendBuf.set(Array(repeating: 0xC3, count: 5000))
        #expect(send(pair.client, s, [(sendBuf.pointer, 5000)]) == WSA_IO_PENDING)
        #expect(s.wait(pair.client) == (true, 5000, 0))
        usleep(20_000)   // the frame has reached the server's provider, which paused on it
        let r = Op()
        #expect(recv(pair.server, r, [(recvBuf.pointer, 8192)]) == WSA_IO_PENDING)
        let got = try #require(poll(pair.server, r))
        #expect(got.error == 0 && got.bytes == 5000)
        #expect(got.seconds < 0.5)
        #expect(Array(recvBuf.bytes[0..<5000]) == Array(repeating: 0xC3, count: 5000))
    }

    /// An RDMA write posted right after a run of waits, completion polled: the acknowledgement
    /// must be read although no thread drives.
    @Test func rdmaWriteNobodyWaitsForAfterARunOfWaits() throws {
        let pair = try #require(ConnectedPair.make(port: 17640))
        defer { pair.close() }
        let sendBuf = Buffer(8192), recvBuf = Buffer(8192), region = Buffer(65536)
        let (sh, _) = register(pair.client, sendBuf, MEM_READ)
        _ = register(pair.server, recvBuf, MEM_WRITE)
        let (desc, derr) = rdmaDescriptor(pair.server, region, MEM_WRITE)
        #expect(derr == 0)
        runOfWaits(pair, sendBuf, recvBuf)
        sendBuf.set(Array(repeating: 0x7E, count: 4096))
        let w = Op()
        #expect(rdma(true, pair.client, w, local: (sendBuf.pointer, 4096, sh), descriptor: desc, offset: 1024)
                == WSA_IO_PENDING)
        let got = try #require(poll(pair.client, w))
        #expect(got.error == 0 && got.bytes == 4096)
        #expect(got.seconds < 0.5)
        #expect(Array(region.bytes[1024..<5120]) == Array(repeating: 0x7E, count: 4096))
    }
}
