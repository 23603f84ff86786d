import Glibc
import Testing
import WinSock
@testable import SanWSP

/// A connected pair of provider sockets in this process, with helpers for overlapped I/O.
struct ConnectedPair {
    let client: SOCKET
    let server: SOCKET
    let listener: SOCKET

    static func make(port: UInt16) -> ConnectedPair? {
        let (l, _) = newSocket()
        guard bind(l, ipv4("127.0.0.1", port)) == 0 else { return nil }
        var err: Int32 = 0
        guard WSPListen(l, 5, &err) == 0 else { return nil }
        let (c, _) = newSocket()
        _ = bind(c, ipv4("127.0.0.1", 0))
        let acceptor = Thread {
            var err: Int32 = 0
            for _ in 0..<2000 {
                let a = WSPAccept(l, nil, nil, nil, 0, &err)
                if a != SOCKET.invalid { AcceptedBox.value.withLock { $0 = a }; return }
                usleep(1000)
            }
        }
        let rc = connect(c, ipv4("127.0.0.1", port))
        acceptor.join()
        let server = AcceptedBox.value.withLock { v -> SOCKET in defer { v = .invalid }; return v }
        guard rc == 0, server != .invalid else { return nil }
        return ConnectedPair(client: c, server: server, listener: l)
    }

    func close() {
        _ = closeSocket(client); _ = closeSocket(server); _ = closeSocket(listener)
    }
}

import Synchronization
enum AcceptedBox { static let value = Mutex<SOCKET>(.invalid) }

/// Page-aligned memory for registrations.
final class Buffer: @unchecked Sendable {  // tests share raw memory across threads on purpose
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(_ count: Int, fill: UInt8 = 0) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        pointer.initializeMemory(as: UInt8.self, repeating: fill, count: max(count, 1))
    }
    deinit { pointer.deallocate() }
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: pointer, count: count)) }
    func set(_ values: [UInt8], at offset: Int = 0) {
        values.withUnsafeBytes { (pointer + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
}

func register(_ s: SOCKET, _ b: Buffer, _ flags: Int32 = MEM_READWRITE, length: Int? = nil) -> (HANDLE?, Int32) {
    var err: Int32 = 0
    let h = WSPRegisterMemory(s, b.pointer, DWORD(length ?? b.count), DWORD(flags), &err)
    return (h, err)
}

/// One overlapped operation's structures, kept alive until it completes.
final class Op: @unchecked Sendable {
    let ov = UnsafeMutablePointer<WSAOVERLAPPED>.allocate(capacity: 1)
    let bufs = UnsafeMutablePointer<WSABUF>.allocate(capacity: 8)
    let bufsEx = UnsafeMutablePointer<WSABUFEX>.allocate(capacity: 8)
    var flags: DWORD = 0
    init(noNotify: Bool = true) {
        ov.initialize(to: WSAOVERLAPPED())
        // hEvent bit 0 set: poll with WSPGetOverlappedResult, no upcall.
        if noNotify { ov.pointee.hEvent = UnsafeMutableRawPointer(bitPattern: 1) }
    }
    deinit { ov.deallocate(); bufs.deallocate(); bufsEx.deallocate() }

    func wait(_ s: SOCKET) -> (ok: Bool, bytes: DWORD, error: Int32) {
        var bytes: DWORD = 0, flags: DWORD = 0
        var err: Int32 = 0
        let ok = WSPGetOverlappedResult(s, ov, &bytes, 1, &flags, &err)
        self.flags = flags
        return (ok != 0, bytes, ok != 0 ? 0 : err)
    }
}

func send(_ s: SOCKET, _ op: Op, _ segments: [(UnsafeMutableRawPointer, Int)]) -> Int32 {
    for (i, seg) in segments.enumerated() {
        op.bufs[i] = WSABUF(len: ULONG(seg.1), buf: seg.0.assumingMemoryBound(to: CChar.self))
    }
    var err: Int32 = 0
    let rc = WSPSend(s, op.bufs, DWORD(segments.count), nil, 0, op.ov, nil, nil, &err)
    return rc == 0 ? 0 : err
}

func recv(_ s: SOCKET, _ op: Op, _ segments: [(UnsafeMutableRawPointer, Int)]) -> Int32 {
    for (i, seg) in segments.enumerated() {
        op.bufs[i] = WSABUF(len: ULONG(seg.1), buf: seg.0.assumingMemoryBound(to: CChar.self))
    }
    var err: Int32 = 0
    var flags: DWORD = 0
    let rc = WSPRecv(s, op.bufs, DWORD(segments.count), nil, &flags, op.ov, nil, nil, &err)
    return rc == 0 ? 0 : err
}

func rdmaDescriptor(_ s: SOCKET, _ b: Buffer, _ flags: Int32, offset: Int = 0, length: Int? = nil) -> ([UInt8], Int32) {
    var desc = [UInt8](repeating: 0, count: 64)
    var len: DWORD = 64
    var err: Int32 = 0
    let rc = WSPRegisterRdmaMemory(s, b.pointer + offset, DWORD(length ?? b.count), DWORD(flags), &desc, &len, &err)
    return (Array(desc.prefix(Int(len))), rc == 0 ? 0 : err)
}

func rdma(_ write: Bool, _ s: SOCKET, _ op: Op, local: (UnsafeMutableRawPointer, Int, HANDLE?), descriptor: [UInt8], offset: Int) -> Int32 {
    op.bufsEx[0] = WSABUFEX(len: ULONG(local.1), buf: local.0.assumingMemoryBound(to: CChar.self), handle: local.2)
    var desc = descriptor
    var err: Int32 = 0
    let rc = desc.withUnsafeMutableBytes { d in
        write ? WSPRdmaWrite(s, op.bufsEx, 1, d.baseAddress, DWORD(d.count), DWORD(offset), nil, 0, op.ov, nil, nil, &err)
              : WSPRdmaRead(s, op.bufsEx, 1, d.baseAddress, DWORD(d.count), DWORD(offset), nil, 0, op.ov, nil, nil, &err)
    }
    return rc == 0 ? 0 : err
}
