import Glibc
import Testing
import WinSock
@testable import SanWSP

@Suite(.serialized)
struct DataPathTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    @Test func messagesLandInPostedReceives() throws {
        let pair = try #require(ConnectedPair.make(port: 17300))
        defer { pair.close() }
        let sendBuf = Buffer(4096), recvBuf = Buffer(8192)
        let (sh, se) = register(pair.client, sendBuf, MEM_READ)
        let (rh, re) = register(pair.server, recvBuf, MEM_WRITE)
        #expect(sh != nil && se == 0 && rh != nil && re == 0)
        // Two receives posted, two messages; boundaries kept, scatter over two buffers.
        let r1 = Op(), r2 = Op()
        #expect(recv(pair.server, r1, [(recvBuf.pointer, 100), (recvBuf.pointer + 100, 100)]) == WSA_IO_PENDING)
        #expect(recv(pair.server, r2, [(recvBuf.pointer + 4096, 4096)]) == WSA_IO_PENDING)
        sendBuf.set(Array(0..<150).map { UInt8($0) })
        sendBuf.set(Array(repeating: 0xAB, count: 3000), at: 1000)
        let s1 = Op(), s2 = Op()
        #expect(send(pair.client, s1, [(sendBuf.pointer, 50), (sendBuf.pointer + 50, 100)]) == WSA_IO_PENDING)
        #expect(send(pair.client, s2, [(sendBuf.pointer + 1000, 3000)]) == WSA_IO_PENDING)
        #expect(s1.wait(pair.client) == (true, 150, 0))
        #expect(s2.wait(pair.client) == (true, 3000, 0))
        #expect(r1.wait(pair.server) == (true, 150, 0))
        #expect(Array(recvBuf.bytes[0..<150]) == Array(0..<150).map { UInt8($0) })
        #expect(r2.wait(pair.server) == (true, 3000, 0))
        #expect(Array(recvBuf.bytes[4096..<7096]) == Array(repeating: 0xAB, count: 3000))
    }

    @Test func firstMessageBeforeAnyReceiveIsHeld() throws {
        let pair = try #require(ConnectedPair.make(port: 17310))
        defer { pair.close() }
        let sendBuf = Buffer(4096, fill: 7), recvBuf = Buffer(4096)
        _ = register(pair.client, sendBuf, MEM_READ)
        _ = register(pair.server, recvBuf, MEM_WRITE)
        let s1 = Op(), s2 = Op()
        #expect(send(pair.client, s1, [(sendBuf.pointer, 200)]) == WSA_IO_PENDING)
        #expect(send(pair.client, s2, [(sendBuf.pointer + 200, 1000)]) == WSA_IO_PENDING)
        #expect(s1.wait(pair.client).ok && s2.wait(pair.client).ok)
        usleep(100_000)
        let r1 = Op(), r2 = Op()
        #expect(recv(pair.server, r1, [(recvBuf.pointer, 4096)]) == WSA_IO_PENDING)
        #expect(r1.wait(pair.server) == (true, 200, 0))
        #expect(recv(pair.server, r2, [(recvBuf.pointer, 4096)]) == WSA_IO_PENDING)
        #expect(r2.wait(pair.server) == (true, 1000, 0))
    }

    @Test func oversizedMessageFailsTheReceive() throws {
        let pair = try #require(ConnectedPair.make(port: 17320))
        defer { pair.close() }
        let sendBuf = Buffer(8192, fill: 3), recvBuf = Buffer(8192)
        _ = register(pair.client, sendBuf, MEM_READ)
        _ = register(pair.server, recvBuf, MEM_WRITE)
        let r1 = Op(), r2 = Op()
        #expect(recv(pair.server, r1, [(recvBuf.pointer, 1000)]) == WSA_IO_PENDING)
        #expect(recv(pair.server, r2, [(recvBuf.pointer + 4096, 4096)]) == WSA_IO_PENDING)
        let s1 = Op(), s2 = Op()
        #expect(send(pair.client, s1, [(sendBuf.pointer, 5000)]) == WSA_IO_PENDING)
        #expect(send(pair.client, s2, [(sendBuf.pointer, 10)]) == WSA_IO_PENDING)
        let first = r1.wait(pair.server)
        #expect(first.ok == false && first.error == WSAEMSGSIZE)
        // The next message is intact: the rest of the big one was dropped, not delivered.
        #expect(r2.wait(pair.server) == (true, 10, 0))
    }

    @Test func registrationRules() throws {
        let pair = try #require(ConnectedPair.make(port: 17330))
        defer { pair.close() }
        let b = Buffer(8192)
        var err: Int32 = 0
        #expect(WSPRegisterMemory(pair.client, nil, 10, DWORD(MEM_READ), &err) == nil && err == WSAEFAULT)
        #expect(WSPRegisterMemory(pair.client, b.pointer, 10, 4, &err) == nil && err == WSAEINVAL)
        #expect(WSPRegisterMemory(pair.client, b.pointer, 10, 0, &err) == nil && err == WSAEINVAL)
        // Unmapped memory is refused.
        #expect(WSPRegisterMemory(pair.client, UnsafeMutableRawPointer(bitPattern: 0x1000), 10, DWORD(MEM_READ), &err) == nil && err == WSAEFAULT)
        let (unconnected, _) = newSocket()
        #expect(WSPRegisterMemory(unconnected, b.pointer, 10, DWORD(MEM_READ), &err) == nil && err == WSAENOTCONN)
        let (h1, _) = register(pair.client, b, MEM_READ)
        let (h2, _) = register(pair.client, b, MEM_READ)
        #expect(h1 != nil && h1 == h2)   // same range: same handle, counted
        #expect(WSPDeregisterMemory(pair.client, h1, &err) == 0)
        #expect(WSPDeregisterMemory(pair.client, h1, &err) == 0)
        #expect(WSPDeregisterMemory(pair.client, h1, &err) == SOCKET_ERROR && err == WSAEINVAL)
        #expect(WSPDeregisterMemory(pair.client, UnsafeMutableRawPointer(bitPattern: 0x12345), &err) == SOCKET_ERROR && err == WSAEINVAL)
        #expect(WSPDeregisterMemory(SOCKET.invalid, h1, &err) == SOCKET_ERROR && err == WSAENOTSOCK)
        // A handle of another socket is not this socket's.
        let (h3, _) = register(pair.server, b, MEM_READ)
        #expect(WSPDeregisterMemory(pair.client, h3, &err) == SOCKET_ERROR && err == WSAEINVAL)
        // Unregistered or wrong-direction buffers are refused before anything starts.
        let op = Op()
        #expect(send(pair.client, op, [(b.pointer, 10)]) == WSAEFAULT)
        let (_, _) = register(pair.client, b, MEM_WRITE)
        #expect(send(pair.client, op, [(b.pointer, 10)]) == WSAEFAULT)   // MEM_WRITE only
        #expect(WSPSend(unconnected, op.bufs, 0, nil, 0, op.ov, nil, nil, &err) == SOCKET_ERROR && err == WSAENOTCONN)
        // Registered on the receiving side with MEM_READ only: a receive into it is refused.
        let (_, _) = register(pair.server, b, MEM_READ)
        #expect(recv(pair.server, op, [(b.pointer, 10)]) == WSAEFAULT)
        // A receive in flight pins its registration.
        let (rh, _) = register(pair.server, b, MEM_WRITE)
        #expect(recv(pair.server, op, [(b.pointer, 10)]) == WSA_IO_PENDING)
        #expect(WSPDeregisterMemory(pair.server, rh, &err) == SOCKET_ERROR && err == WSAEINVAL)
        _ = closeSocket(unconnected)
        // Closing aborts the pending receive: WSA_OPERATION_ABORTED, 0 bytes.
        withExtendedLifetime(op) {
            _ = closeSocket(pair.server)
            #expect(op.wait(SOCKET.invalid).error == WSAENOTSOCK)
            #expect(op.ov.pointee.OffsetHigh == DWORD(WSA_OPERATION_ABORTED) && op.ov.pointee.InternalHigh == 0)
        }
    }

    @Test func rdmaWriteAndReadAtOffsets() throws {
        let pair = try #require(ConnectedPair.make(port: 17340))
        defer { pair.close() }
        let target = Buffer(65536), local = Buffer(65536)
        let (lh, _) = register(pair.client, local, MEM_READWRITE)
        let (desc, derr) = rdmaDescriptor(pair.server, target, MEM_READWRITE)
        #expect(derr == 0 && desc.count == RdmaDescriptor.size)
        for (offset, size) in [(0, 1000), (30000, 4096), (65536 - 777, 777)] {
            local.set((0..<size).map { UInt8(truncatingIfNeeded: $0 ^ offset) })
            let w = Op()
            #expect(rdma(true, pair.client, w, local: (local.pointer, size, lh), descriptor: desc, offset: offset) == WSA_IO_PENDING)
            #expect(w.wait(pair.client) == (true, DWORD(size), 0))
            #expect(Array(target.bytes[offset..<(offset + size)]) == (0..<size).map { UInt8(truncatingIfNeeded: $0 ^ offset) })
            // Read it back into another part of local memory.
            let r = Op()
            #expect(rdma(false, pair.client, r, local: (local.pointer + 32768, size, lh), descriptor: desc, offset: offset) == WSA_IO_PENDING)
            #expect(r.wait(pair.client) == (true, DWORD(size), 0))
            #expect(Array(local.bytes[32768..<(32768 + size)]) == Array(target.bytes[offset..<(offset + size)]))
        }
    }

    @Test(arguments: ["pastEnd", "wrongKey", "readOnlyWritten", "deregistered", "writeOnlyRead"])
    func rdmaViolationsAreRejected(_ violation: String) throws {
        let pair = try #require(ConnectedPair.make(port: 17350))
        defer { pair.close() }
        let target = Buffer(4096, fill: 0x5A), local = Buffer(4096, fill: 0xEE)
        let (lh, _) = register(pair.client, local, MEM_READWRITE)
        let flags = violation == "readOnlyWritten" ? MEM_READ : (violation == "writeOnlyRead" ? MEM_WRITE : MEM_READWRITE)
        var (desc, _) = rdmaDescriptor(pair.server, target, flags)
        var offset = 0, size = 100, write = violation != "writeOnlyRead"
        switch violation {
        case "pastEnd": offset = 4096 - 99              // one byte past the end
        case "wrongKey": desc[desc.count - 1] ^= 1
        case "deregistered":
            var err: Int32 = 0
            #expect(WSPDeregisterRdmaMemory(pair.server, &desc, DWORD(desc.count), &err) == 0)
        default: size = 100; write = violation != "writeOnlyRead"
        }
        let op = Op()
        #expect(rdma(write, pair.client, op, local: (local.pointer, size, lh), descriptor: desc, offset: offset) == WSA_IO_PENDING)
        let result = op.wait(pair.client)
        #expect(!result.ok && result.error == WSAEACCES)
        #expect(target.bytes == [UInt8](repeating: 0x5A, count: 4096))   // untouched
        if !write { #expect(local.bytes == [UInt8](repeating: 0xEE, count: 4096)) }
    }

    @Test func rdmaDescriptorsDeregisterAfterThePeerLeft() throws {
        let pair = try #require(ConnectedPair.make(port: 17360))
        defer { pair.close() }
        let region = Buffer(4096)
        var (desc, err) = rdmaDescriptor(pair.server, region, MEM_READWRITE)
        #expect(err == 0)
        #expect(closeSocket(pair.client) == 0)
        var value: Int32 = 0, len: Int32 = 4
        for _ in 0..<200 where value == 0 {
            usleep(5000)
            _ = withUnsafeMutableBytes(of: &value) {
                WSPGetSockOpt(pair.server, WS_SOL_SOCKET, WS_SO_ERROR, $0.baseAddress!.assumingMemoryBound(to: CChar.self), &len, &err)
            }
        }
        #expect(value == WSAECONNRESET)
        #expect(WSPDeregisterRdmaMemory(pair.server, &desc, DWORD(desc.count), &err) == 0)
        #expect(WSPDeregisterRdmaMemory(pair.server, &desc, DWORD(desc.count), &err) == SOCKET_ERROR && err == WSAEINVAL)
        #expect(WSPDeregisterRdmaMemory(pair.server, &desc, 39, &err) == SOCKET_ERROR && err == WSAEINVAL)
    }

    @Test func bufferArraysAreCopiedWhenPosted() throws {
        let pair = try #require(ConnectedPair.make(port: 17370))
        defer { pair.close() }
        let a = Buffer(4096, fill: 0x42), b = Buffer(4096)
        _ = register(pair.client, a, MEM_READ)
        _ = register(pair.server, b, MEM_WRITE)
        let r = Op(), s = Op()
        #expect(recv(pair.server, r, [(b.pointer, 4096)]) == WSA_IO_PENDING)
        // The switch may reuse its WSABUF arrays as soon as the call returns.
        r.bufs[0] = WSABUF(len: 1, buf: UnsafeMutablePointer(bitPattern: 0x10))
        #expect(send(pair.client, s, [(a.pointer, 1000)]) == WSA_IO_PENDING)
        s.bufs[0] = WSABUF(len: 1, buf: UnsafeMutablePointer(bitPattern: 0x10))
        #expect(r.wait(pair.server) == (true, 1000, 0))
        #expect(Array(b.bytes[0..<1000]) == [UInt8](repeating: 0x42, count: 1000))
    }
}

@Suite(.serialized)
struct DataPathOrderingTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    @Test func descriptorLengthProbe() throws {
        let pair = try #require(ConnectedPair.make(port: 17380))
        defer { pair.close() }
        let region = Buffer(4096)
        var len: DWORD = 0
        var err: Int32 = 0
        var small = [UInt8](repeating: 0, count: 8)
        #expect(WSPRegisterRdmaMemory(pair.server, region.pointer, 4096, DWORD(MEM_READ), &small, &len, &err) == SOCKET_ERROR)
        #expect(err == WSAEFAULT && len == DWORD(RdmaDescriptor.size))
        len = 39
        #expect(WSPRegisterRdmaMemory(pair.server, region.pointer, 4096, DWORD(MEM_READ), &small, &len, &err) == SOCKET_ERROR)
        #expect(err == WSAEFAULT && len == 40)
        #expect(WSPRegisterRdmaMemory(pair.server, region.pointer, 4096, DWORD(MEM_READ), &small, nil, &err) == SOCKET_ERROR && err == WSAEFAULT)
        var desc = [UInt8](repeating: 0, count: 40)
        len = 40
        #expect(WSPRegisterRdmaMemory(pair.server, region.pointer, 4096, 9, &desc, &len, &err) == SOCKET_ERROR && err == WSAEINVAL)
        #expect(WSPRegisterRdmaMemory(pair.server, region.pointer, 4096, DWORD(MEM_READ), &desc, &len, &err) == 0 && len == 40)
        // Two registrations of the same memory get different keys.
        var second = [UInt8](repeating: 0, count: 40)
        #expect(WSPRegisterRdmaMemory(pair.server, region.pointer, 4096, DWORD(MEM_READ), &second, &len, &err) == 0)
        #expect(desc[32..<40] != second[32..<40])
    }

    @Test func messageAfterRdmaWriteSeesTheData() throws {
        let pair = try #require(ConnectedPair.make(port: 17390))
        defer { pair.close() }
        let size = 1 << 20
        let region = Buffer(size), local = Buffer(size), note = Buffer(64), inbox = Buffer(64)
        let (lh, _) = register(pair.client, local, MEM_READ)
        _ = register(pair.client, note, MEM_READ)
        _ = register(pair.server, inbox, MEM_WRITE)
        let (desc, _) = rdmaDescriptor(pair.server, region, MEM_WRITE)
        var stale = 0
        for round in 0..<50 {
            let fill = UInt8(truncatingIfNeeded: round + 1)
            local.pointer.initializeMemory(as: UInt8.self, repeating: fill, count: size)
            let r = Op(), w = Op(), s = Op()
            #expect(recv(pair.server, r, [(inbox.pointer, 64)]) == WSA_IO_PENDING)
            // The write is not awaited: the message right after it must still see the data.
            #expect(rdma(true, pair.client, w, local: (local.pointer, size, lh), descriptor: desc, offset: 0) == WSA_IO_PENDING)
            #expect(send(pair.client, s, [(note.pointer, 8)]) == WSA_IO_PENDING)
            #expect(r.wait(pair.server).ok)
            if region.pointer.load(as: UInt8.self) != fill || region.pointer.load(fromByteOffset: size - 1, as: UInt8.self) != fill {
                stale += 1
            }
            #expect(w.wait(pair.client).ok && s.wait(pair.client).ok)
        }
        #expect(stale == 0)
    }

    @Test func regionInUseCannotBeDeregistered() throws {
        let pair = try #require(ConnectedPair.make(port: 17395))
        defer { pair.close() }
        let size = 256 << 20
        let region = Buffer(size, fill: 0x3C), local = Buffer(size)
        let (lh, _) = register(pair.client, local, MEM_WRITE)
        var (desc, _) = rdmaDescriptor(pair.server, region, MEM_READ)
        let read = Op()
        #expect(rdma(false, pair.client, read, local: (local.pointer, size, lh), descriptor: desc, offset: 0) == WSA_IO_PENDING)
        var err: Int32 = 0
        var refused = 0
        var released = false
        usleep(20_000)   // the request has reached the responder; 256 MiB take far longer to send
        for _ in 0..<20_000 where !released {
            if WSPDeregisterRdmaMemory(pair.server, &desc, 40, &err) == 0 { released = true; break }
            if err == WSAEINVAL { refused += 1 }
            usleep(200)
        }
        #expect(refused > 0)     // pinned while the read response was being sent
        #expect(released)        // and released once it was
        #expect(read.wait(pair.client) == (true, DWORD(size), 0))
        #expect(local.pointer.load(fromByteOffset: size / 2, as: UInt8.self) == 0x3C)
    }
}
