import CSystem
import Glibc
import WinSock

/// Frame headers live inline in the queue entry (no allocation per frame).
struct InlineHeader {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    var length = 0
    /// The longest header a frame can have.
    static var capacity: Int { MemoryLayout<(UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)>.size }

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

    /// Header plus payload: the bytes this frame puts on the wire.
    var wireLength: Int {
        switch payload {
        case .none: header.length
        case .buffers(let op): header.length + op.total
        case .region(_, let n, _): header.length + n
        }
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

    /// Frames gathered into one sendmsg at most: their headers are copied to the stack
    /// (16 × 48 = 768 bytes; withUnsafeTemporaryAllocation puts more than 1 KiB on the heap).
    static let maximumGatheredFrames = 16

    /// Writes queued frames, as many as one sendmsg can gather, and returns at the first one
    /// that completes something, so the caller can deliver it without holding the lock; the
    /// next call pops the frames the same write already finished without a system call.
    /// Why gather: with the kernel's buffer full, frames pile up behind the head and each wake
    /// for writability then wrote one of them per system call; one sendmsg for the lot costs
    /// the sending CPU (which on loopback also runs the receiver's TCP input) a fraction.
    mutating func flushOne(fd: Int32) -> FlushResult {
        if let done = popWritten() { return done }
        guard !queue.isEmpty else { return .drained }
        switch writeGathered(fd: fd) {
        case .failure(let e): return .failed(SoftTransport.lossError(e.errno))
        case .success(let (written, asked)):
            headWritten += written
            if let done = popWritten() { return done }
            if queue.isEmpty { return .drained }
            if written == 0 || written < asked { return .blocked }
            return flushOne(fd: fd)   // the gather limits ended the write, not the kernel
        }
    }

    /// Removes head frames whose bytes are all in the kernel; returns at the first that
    /// completes a send or unpins a region, nil once the head is not (fully) written.
    private mutating func popWritten() -> FlushResult? {
        // Measured in place: copying a frame out of the ring costs a copy and a retain.
        while let total = queue.withFirst({ $0.wireLength }) {
            guard headWritten >= total else { return nil }
            let frame = queue.popFirst()!
            headWritten -= total
            if let op = frame.completes { return .completed(op) }
            if case .region(_, _, let id) = frame.payload {
                readResponsesQueued -= 1
                return .regionDone(id)
            }
        }
        return nil
    }

    /// One sendmsg of the queued bytes from `headWritten` on: up to `maximumGatheredFrames`
    /// frames and `maximumIovecs` pieces. Returns (bytes written, bytes offered); EAGAIN is
    /// (0, offered).
    private mutating func writeGathered(fd: Int32) -> Result<(Int, Int), SysError> {
        let frames = min(queue.count, Self.maximumGatheredFrames)
        let skipped = headWritten
        return withUnsafeTemporaryAllocation(byteCount: frames * InlineHeader.capacity, alignment: 8) { headers in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: Self.maximumIovecs) { iov in
                var n = 0, offered = 0, skip = skipped, headerBytes = 0
                var room = true
                func add(_ base: UnsafeMutableRawPointer?, _ length: Int) {
                    guard room, length > 0 else { return }
                    if skip >= length { skip -= length; return }
                    guard n < Self.maximumIovecs else { room = false; return }
                    iov[n] = iovec(iov_base: base.map { $0 + skip }, iov_len: length - skip)
                    offered += length - skip
                    skip = 0
                    n += 1
                }
                for i in 0..<frames where room {
                    queue.withElement(at: i) { frame in
                        let headerLength = frame.header.length
                        if skip < headerLength {
                            let copy = headers.baseAddress! + headerBytes
                            frame.header.withBytes { copy.copyMemory(from: $0, byteCount: headerLength) }
                            headerBytes += headerLength
                            add(copy, headerLength)
                        } else {
                            skip -= headerLength
                        }
                        switch frame.payload {
                        case .none: break
                        case .region(let address, let length, _):
                            add(UnsafeMutableRawPointer(bitPattern: address), length)
                        case .buffers(let op):
                            for j in 0..<op.count where room {
                                let (address, length) = op.buffer(j)
                                add(UnsafeMutableRawPointer(bitPattern: address), length)
                            }
                        }
                    }
                }
                if n == 0 { return .success((0, 0)) }
                var msg = msghdr()
                msg.msg_iov = iov.baseAddress
                msg.msg_iovlen = n
                while true {
                    let sent = sendmsg(fd, &msg, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                    if sent >= 0 { return .success((sent, offered)) }
                    switch errno {
                    case EINTR: continue
                    case EAGAIN, EWOULDBLOCK: return .success((0, offered))
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
