import CSystem
import Glibc
import WinSock

/// Frame headers live inline in the queue entry (no allocation per frame).
struct InlineHeader {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    var length = 0

    mutating func withBytes<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
        withUnsafeMutableBytes(of: &words) { body($0.baseAddress!) }
    }
}

/// One frame waiting for the kernel socket.
struct OutgoingFrame {
    enum Payload {
        case none
        case buffers(TransferOp)          // a message or RDMA-write source: the switch's buffers
        case region(UInt, Int, UInt64)    // a read response: (address, length, region id)
    }
    var header = InlineHeader()
    var payload = Payload.none
    /// Fully written, this frame completes the send in its payload (messages only; RDMA
    /// operations complete on the peer's answer).
    var completesSend = false

    var completes: TransferOp? {
        if completesSend, case .buffers(let op) = payload { return op }
        return nil
    }
}

/// The sending half of a soft connection: one FIFO of frames, written with sendmsg straight
/// from the switch's buffers (or the exposed region), in order, by whichever thread gets there
/// first: the caller of WSPSend when the queue is empty, the progress engine otherwise.
struct SoftSender {
    var queue = Ring<OutgoingFrame>(capacity: 64)
    var headWritten = 0          // bytes of the head frame already in the kernel
    var lostError: Int32?        // set once the connection is gone
    var readResponsesQueued = 0  // bounded: the peer cannot make us queue without limit

    static let maximumIovecs = 64

    enum FlushResult {
        case drained                  // nothing left
        case blocked                  // the kernel is full: wait for writability
        case completed(TransferOp)    // the head send finished: deliver it, then flush again
        case regionDone(UInt64)       // a read response left: unpin its region
        case failed(Int32)
    }

    /// Writes as much of the head frame as the kernel takes. Stops after each frame that
    /// completes something, so the caller can deliver it without holding the lock.
    mutating func flushOne(fd: Int32) -> FlushResult {
        guard !queue.isEmpty else { return .drained }
        if headWritten == 0, queue.count > 1, case .none = queue[0].payload, case .none = queue[1].payload {
            return flushControlFrames(fd: fd)
        }
        let offset = headWritten
        // Written in place: frames are large value types, so no copy of the head.
        let (total, result) = queue.withFirst { frame -> (Int, Result<Int, SysError>) in
            let total = frame.header.length + Self.payloadLength(frame.payload)
            guard offset < total else { return (total, .success(0)) }
            return (total, Self.writev(fd: fd, frame: &frame, from: offset))
        }!
        switch result {
        case .failure(let e): return .failed(SoftTransport.lossError(e.errno))
        case .success(let n): headWritten += n
        }
        if headWritten < total { return .blocked }
        let frame = queue.popFirst()!
        headWritten = 0
        if let op = frame.completes { return .completed(op) }
        if case .region(_, _, let id) = frame.payload {
            readResponsesQueued -= 1
            return .regionDone(id)
        }
        return queue.isEmpty ? .drained : flushOne(fd: fd)
    }

    /// Consecutive header-only frames (RDMA write acknowledgements, read requests, ...) go out
    /// in one send: a burst of answers costs one system call, not one each.
    private mutating func flushControlFrames(fd: Int32) -> FlushResult {
        // 21 × 48 = 1008 bytes: on the stack (withUnsafeTemporaryAllocation puts more than
        // 1 KiB on the heap, which would be one allocation per burst of answers).
        let batch = 21, frameMax = 48
        var lengths = (0, 0)   // (frames fully copied, bytes)
        let result = withUnsafeTemporaryAllocation(byteCount: batch * frameMax, alignment: 8) {
            buffer -> Result<Int, SysError> in
            var bytes = 0, frames = 0
            while frames < min(batch, queue.count) {
                var frame = queue[frames]
                guard case .none = frame.payload, frame.completes == nil else { break }
                let length = frame.header.length
                frame.header.withBytes { buffer.baseAddress!.advanced(by: bytes).copyMemory(from: $0, byteCount: length) }
                bytes += length
                frames += 1
            }
            lengths = (frames, bytes)
            return Syscall.send(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<bytes]))
        }
        switch result {
        case .failure(let e): return .failed(SoftTransport.lossError(e.errno))
        case .success(var written):
            // Whole frames written leave the queue; a partly written one stays at the head.
            for _ in 0..<lengths.0 {
                let length = queue[0].header.length
                if written >= length {
                    queue.popFirst()
                    written -= length
                } else {
                    headWritten = written
                    return .blocked
                }
            }
            return queue.isEmpty ? .drained : flushOne(fd: fd)
        }
    }

    private static func payloadLength(_ p: OutgoingFrame.Payload) -> Int {
        switch p {
        case .none: 0
        case .buffers(let op): op.total
        case .region(_, let n, _): n
        }
    }

    /// One sendmsg of the frame's bytes from `offset` on.
    private static func writev(fd: Int32, frame: inout OutgoingFrame, from offset: Int)
        -> Result<Int, SysError>
    {
        withUnsafeTemporaryAllocation(of: iovec.self, capacity: Self.maximumIovecs) { iov in
            var n = 0
            var skip = offset
            let headerLength = frame.header.length
            let payload = frame.payload
            return frame.header.withBytes { header -> Result<Int, SysError> in
                if skip < headerLength {
                    iov[n] = iovec(iov_base: header + skip, iov_len: headerLength - skip)
                    n += 1
                    skip = 0
                } else {
                    skip -= headerLength
                }
                func add(_ address: UInt, _ length: Int) {
                    guard n < Self.maximumIovecs, length > 0 else { return }
                    if skip >= length { skip -= length; return }
                    iov[n] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: address + UInt(skip)),
                                   iov_len: length - skip)
                    skip = 0
                    n += 1
                }
                switch payload {
                case .none: break
                case .region(let address, let length, _): add(address, length)
                case .buffers(let op):
                    for i in 0..<op.count {
                        let (address, length) = op.buffer(i)
                        add(address, length)
                    }
                }
                if n == 0 { return .success(0) }
                var msg = msghdr()
                msg.msg_iov = iov.baseAddress
                msg.msg_iovlen = n
                while true {
                    let sent = sendmsg(fd, &msg, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                    if sent >= 0 { return .success(sent) }
                    switch errno {
                    case EINTR: continue
                    case EAGAIN, EWOULDBLOCK: return .success(0)
                    default: return .failure(SysError(errno))
                    }
                }
            }
        }
    }

    /// Everything still queued: sends to abort and regions to unpin.
    mutating func drain() -> (ops: [TransferOp], regions: [UInt64]) {
        var ops: [TransferOp] = []
        var regions: [UInt64] = []
        for frame in queue.drain() {
            if let op = frame.completes { ops.append(op) }
            if case .region(_, _, let id) = frame.payload { regions.append(id) }
        }
        headWritten = 0
        readResponsesQueued = 0
        return (ops, regions)
    }
}
