import Glibc
import Synchronization
import Testing
import WinSock
@testable import SanWSP

/// Message i: 8-byte sequence number, then bytes derived from it, `size(i)` long in all.
enum Pattern {
    static func size(_ i: Int) -> Int { 8 + (i &* 7919) % (65536 - 8) }
    static func fill(_ p: UnsafeMutableRawPointer, _ i: Int) {
        p.storeBytes(of: UInt64(i), as: UInt64.self)
        let n = size(i)
        for k in 8..<n { p.storeBytes(of: UInt8(truncatingIfNeeded: i &* 31 &+ k), toByteOffset: k, as: UInt8.self) }
    }
    /// The sequence number if the message is intact, nil otherwise.
    static func check(_ p: UnsafeRawPointer, length: Int) -> Int? {
        let i = Int(p.load(as: UInt64.self))
        guard i >= 0, i < 1_000_000, length == size(i) else { return nil }
        for k in 8..<length where p.load(fromByteOffset: k, as: UInt8.self) != UInt8(truncatingIfNeeded: i &* 31 &+ k) {
            return nil
        }
        return i
    }
}

@Suite(.serialized)
struct DataPathStressTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    @Test func tenThousandMessagesInOrderAndIntact() throws {
        let pair = try #require(ConnectedPair.make(port: 17400))
        defer { pair.close() }
        let window = 32, slot = 65536
        let sendArea = Buffer(window * slot), recvArea = Buffer(window * slot)
        _ = register(pair.client, sendArea, MEM_READ)
        _ = register(pair.server, recvArea, MEM_WRITE)
        let total = 10_000
        let receives = (0..<window).map { _ in Op() }
        let sends = (0..<window).map { _ in Op() }
        for k in 0..<window {
            #expect(recv(pair.server, receives[k], [(recvArea.pointer + k * slot, slot)]) == WSA_IO_PENDING)
        }
        let sender = Thread {
            for i in 0..<total {
                let k = i % window
                if i >= window { _ = sends[k].wait(pair.client) }
                Pattern.fill(sendArea.pointer + k * slot, i)
                _ = send(pair.client, sends[k], [(sendArea.pointer + k * slot, Pattern.size(i))])
            }
            for k in 0..<window { _ = sends[k].wait(pair.client) }
        }
        var inOrder = 0
        for i in 0..<total {
            let k = i % window
            let r = receives[k].wait(pair.server)
            if r.ok, Pattern.check(recvArea.pointer + k * slot, length: Int(r.bytes)) == i { inOrder += 1 }
            if i + window < total {
                _ = recv(pair.server, receives[k], [(recvArea.pointer + k * slot, slot)])
            }
        }
        sender.join()
        #expect(inOrder == total)
        withExtendedLifetime((receives, sends)) {}
    }

    @Test func fourThreadsPerSideExactlyOnce() throws {
        let pair = try #require(ConnectedPair.make(port: 17410))
        defer { pair.close() }
        let threads = 4, perThread = 500, slot = 65536, depth = 4
        let sendArea = Buffer(threads * depth * slot), recvArea = Buffer(threads * depth * slot)
        _ = register(pair.client, sendArea, MEM_READ)
        _ = register(pair.server, recvArea, MEM_WRITE)
        let seen = Mutex([Int](repeating: 0, count: threads * perThread))
        let corrupt = Atomic<Int>(0)
        // Receivers first: each keeps `depth` receives posted for its share of the messages.
        let receivers = (0..<threads).map { t in
            Thread {
                let ops = (0..<depth).map { _ in Op() }
                let base = recvArea.pointer + t * depth * slot
                for k in 0..<depth { _ = recv(pair.server, ops[k], [(base + k * slot, slot)]) }
                for n in 0..<perThread {
                    let k = n % depth
                    let r = ops[k].wait(pair.server)
                    if r.ok, let i = Pattern.check(base + k * slot, length: Int(r.bytes)) {
                        seen.withLock { $0[i] += 1 }
                    } else {
                        corrupt.add(1, ordering: .relaxed)
                    }
                    if n + depth < perThread { _ = recv(pair.server, ops[k], [(base + k * slot, slot)]) }
                }
            }
        }
        usleep(50_000)
        let senders = (0..<threads).map { t in
            Thread {
                let ops = (0..<depth).map { _ in Op() }
                let base = sendArea.pointer + t * depth * slot
                for n in 0..<perThread {
                    let k = n % depth
                    if n >= depth { _ = ops[k].wait(pair.client) }
                    let i = t * perThread + n
                    Pattern.fill(base + k * slot, i)
                    _ = send(pair.client, ops[k], [(base + k * slot, Pattern.size(i))])
                }
                for k in 0..<depth { _ = ops[k].wait(pair.client) }
            }
        }
        senders.forEach { $0.join() }
        receivers.forEach { $0.join() }
        #expect(corrupt.load(ordering: .relaxed) == 0)
        #expect(seen.withLock { $0.allSatisfy { $0 == 1 } })
    }

    @Test func completionUpcallsMatchOperations() throws {
        let pair = try #require(ConnectedPair.make(port: 17420))
        defer { pair.close() }
        let a = Buffer(4096), b = Buffer(4096)
        _ = register(pair.client, a, MEM_READ)
        _ = register(pair.server, b, MEM_WRITE)
        let before = TestSwitch.state.withLock { $0.completions }
        // 10 operations with notification, 10 with hEvent bit 0 (polled).
        for notify in [true, false] {
            for _ in 0..<5 {
                let r = Op(noNotify: !notify), s = Op(noNotify: !notify)
                if notify { r.ov.pointee.hEvent = nil; s.ov.pointee.hEvent = nil }
                _ = recv(pair.server, r, [(b.pointer, 4096)])
                _ = send(pair.client, s, [(a.pointer, 100)])
                if notify {
                    // The test switch's upcall marks the structure done.
                    while Overlapped.isPending(r.ov) || Overlapped.isPending(s.ov) { usleep(1000) }
                } else {
                    #expect(r.wait(pair.server).ok && s.wait(pair.client).ok)
                }
            }
            let after = TestSwitch.state.withLock { $0.completions }
            #expect(after - before == 10)   // bit-0 operations made no upcall
        }
    }

    @Test func overlappedResultRules() throws {
        let pair = try #require(ConnectedPair.make(port: 17430))
        defer { pair.close() }
        let b = Buffer(4096)
        _ = register(pair.server, b, MEM_WRITE)
        let r = Op()
        #expect(recv(pair.server, r, [(b.pointer, 4096)]) == WSA_IO_PENDING)
        var bytes: DWORD = 0, flags: DWORD = 0
        var err: Int32 = 0
        #expect(WSPGetOverlappedResult(pair.server, r.ov, &bytes, 0, &flags, &err) == 0 && err == WSA_IO_INCOMPLETE)
        #expect(WSPGetOverlappedResult(pair.server, nil, &bytes, 0, &flags, &err) == 0 && err == WSAEFAULT)
        #expect(WSPGetOverlappedResult(pair.server, r.ov, nil, 0, &flags, &err) == 0 && err == WSAEFAULT)
        var noRoutine = WSABUF(len: 10, buf: b.pointer.assumingMemoryBound(to: CChar.self))
        #expect(WSPRecv(pair.server, &noRoutine, 1, nil, &flags, nil, nil, nil, &err) == SOCKET_ERROR && err == WSAEINVAL)
        flags = 1
        #expect(WSPRecv(pair.server, &noRoutine, 1, nil, &flags, r.ov, nil, nil, &err) == SOCKET_ERROR && err == WSAEOPNOTSUPP)
        // The peer closes: the pending receive fails WSAECONNRESET.
        #expect(closeSocket(pair.client) == 0)
        let result = r.wait(pair.server)
        #expect(!result.ok && result.error == WSAECONNRESET)
        // Later operations fail at once with the stored code.
        #expect(recv(pair.server, r, [(b.pointer, 4096)]) == WSAECONNRESET)
    }

    @Test func closeAbortsPendingBeforeTheFinalUpcall() throws {
        let pair = try #require(ConnectedPair.make(port: 17440))
        let b = Buffer(4096), target = Buffer(4096)
        _ = register(pair.server, b, MEM_READWRITE)
        let ops = (0..<5).map { _ in Op(noNotify: false) }
        for op in ops { op.ov.pointee.hEvent = nil }
        for op in ops { _ = recv(pair.server, op, [(b.pointer, 4096)]) }
        let before = TestSwitch.state.withLock { ($0.completions, $0.closed) }
        #expect(closeSocket(pair.server) == 0)
        let after = TestSwitch.state.withLock { ($0.completions, $0.closed) }
        #expect(after.0 - before.0 == 5 && after.1 - before.1 == 1)
        for op in ops {
            #expect(op.ov.pointee.OffsetHigh == DWORD(WSA_OPERATION_ABORTED) && op.ov.pointee.InternalHigh == 0)
        }
        _ = closeSocket(pair.client); _ = closeSocket(pair.listener)
        withExtendedLifetime((ops, target)) {}
    }

    @Test func registrationCacheCallback() throws {
        let pair = try #require(ConnectedPair.make(port: 17450))
        defer { pair.close() }
        let b = Buffer(8192)
        var err: Int32 = 0
        // The cache is process-wide and keeps entries of earlier tests' buffers, whose
        // addresses this one may reuse: start with none over this range.
        _ = WSPMemoryRegistrationCacheCallback(b.pointer, 8192, &err)
        let (h, _) = register(pair.client, b, MEM_READ)
        #expect(WSPDeregisterMemory(pair.client, h, &err) == 0)
        #expect(Provider.shared.registrationCache.isKnownAccessible(base: UInt(bitPattern: b.pointer), length: 8192, needsWrite: false))
        #expect(WSPMemoryRegistrationCacheCallback(b.pointer + 100, 10, &err) == 0)
        #expect(!Provider.shared.registrationCache.isKnownAccessible(base: UInt(bitPattern: b.pointer), length: 8192, needsWrite: false))
        #expect(WSPMemoryRegistrationCacheCallback(b.pointer, 8192, &err) == SOCKET_ERROR && err == WSAEINVAL)
        // After the mapping goes away the range is checked afresh and refused.
        let mapped = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        var h2 = WSPRegisterMemory(pair.client, mapped, 4096, DWORD(MEM_READ), &err)
        #expect(h2 != nil)
        _ = WSPDeregisterMemory(pair.client, h2, &err)
        #expect(WSPMemoryRegistrationCacheCallback(mapped, 4096, &err) == 0)
        munmap(mapped, 4096)
        h2 = WSPRegisterMemory(pair.client, mapped, 4096, DWORD(MEM_READ), &err)
        #expect(h2 == nil && err == WSAEFAULT)
    }
}
