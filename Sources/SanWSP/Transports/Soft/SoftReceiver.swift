import CSystem
import Glibc
import WinSock

/// A fixed staging area for small frames and headers (one per connection).
struct Staging: @unchecked Sendable {
    static let capacity = 64 * 1024
    let base = UnsafeMutableRawPointer.allocate(byteCount: Staging.capacity, alignment: 16)
    var start = 0
    var end = 0
    var available: Int { end - start }
    var pointer: UnsafeMutableRawPointer { base + start }

    mutating func consume(_ n: Int) {
        start += n
        if start == end { start = 0; end = 0 }
    }

    /// Moves the unread bytes to the front so a header never wraps.
    mutating func compact() {
        guard start > 0 else { return }
        if available > 0 { base.copyMemory(from: base + start, byteCount: available) }
        end -= start
        start = 0
    }
}

/// The frame the receiver is in the middle of.
enum IncomingFrame {
    /// Message bytes for a posted receive (or, with no receive posted, the held first message).
    case message(op: TransferOp?, remaining: Int, placed: Int, capacity: Int)
    /// RDMA write payload into an exposed region.
    case rdmaWrite(address: UInt, remaining: Int, regionId: UInt64, opId: UInt64)
    /// RDMA read response payload into the local buffers of our read.
    case readResponse(op: TransferOp, remaining: Int, placed: Int)
    /// Bytes to drop (the part of a message beyond its receive's capacity).
    case discard(remaining: Int, then: Completion?)
}

/// A completion the receiver produced, to deliver without its lock.
struct Completion {
    var op: TransferOp
    var error: Int32
    var bytes: Int
}

/// The receiving half of a soft connection: frames are read from the kernel into the staging
/// area (small ones) or straight into the switch's posted buffers / the exposed region (large
/// payloads), and parsed in order.
struct SoftReceiver {
    var staging = Staging()
    var posted = Ring<TransferOp>(capacity: 64)
    var frame: IncomingFrame?
    /// The first message when it arrives before any receive is posted (spec §1.7): at most
    /// `heldLimit` bytes; anything more waits in the kernel (TCP flow control) until a receive
    /// is posted.
    var held: [UInt8]?
    var heldFill = 0
    var paused = false
    var awaitingAcks = Ring<TransferOp>(capacity: 16)
    var awaitingReads = Ring<TransferOp>(capacity: 16)
    var lostError: Int32?
    /// The last payload was large (see `ensure`).
    var expectLarge = false
    static let largePayload = 16 * 1024

    static let heldLimit = 256
    /// Payloads at least this long that find the staging area empty are read in place.
    static let directThreshold = 4096

    enum Step {
        case progress                  // parsed something, keep going
        case deliver(Completion)       // deliver this, then keep going
        case wouldBlock                // nothing more to read now
        case paused                    // a message waits for a receive to be posted
        case lost(Int32)               // end of stream, error or protocol violation
        case queue(OutgoingFrame)      // send this (ack / read response), then keep going
        case violation(OutgoingFrame)  // send this answer, then end the connection
    }

    // MARK: reading

    enum Fill { case got, wouldBlock, lost(Int32) }

    /// Reads whatever the kernel has into the staging area.
    mutating func fill(fd: Int32, atMost limit: Int = Staging.capacity) -> Fill {
        if staging.end == Staging.capacity { staging.compact() }
        guard staging.end < Staging.capacity else { return .got }
        let room = min(Staging.capacity - staging.end, limit)
        let n = recv(fd, staging.base + staging.end, room, Int32(MSG_DONTWAIT))
        if n > 0 { staging.end += n; return .got }
        if n == 0 { return .lost(WSAECONNRESET) }
        switch errno {
        case EAGAIN, EWOULDBLOCK, EINTR: return .wouldBlock
        default: return .lost(SoftTransport.lossError(errno))
        }
    }

    /// Ensures `n` contiguous bytes are staged (n ≤ 64 here).
    /// After a large payload the next one is likely large too: then read just the header, so
    /// the payload goes straight from the kernel into its destination (no staging copy).
    mutating func ensure(_ n: Int, fd: Int32) -> Fill {
        while staging.available < n {
            if staging.start + n > Staging.capacity { staging.compact() }
            switch fill(fd: fd, atMost: expectLarge ? n - staging.available : Staging.capacity) {
            case .got: continue
            case let other: return other
            }
        }
        return .got
    }

    // MARK: parsing

    /// One parsing step. (No SO_RCVLOWAT: asking the kernel to hold wake-ups until a large part
    /// of a payload is there measured 15–25% slower on loopback than reading what has arrived.)
    mutating func step(fd: Int32, regions: SoftRegions, limits: TransportLimits) -> Step {
        parse(fd: fd, regions: regions, limits: limits)
    }

    private mutating func parse(fd: Int32, regions: SoftRegions, limits: TransportLimits) -> Step {
        if let current = frame { return continueFrame(current, fd: fd, regions: regions) }
        switch ensure(SoftWire.headerSize, fd: fd) {
        case .wouldBlock: return .wouldBlock
        case .lost(let e): return .lost(e)
        case .got: break
        }
        let h = staging.pointer
        let type = h.load(as: UInt8.self)
        let length = Int(UInt32(bigEndian: h.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard h.load(fromByteOffset: 1, as: UInt8.self) == 0,
              h.loadUnaligned(fromByteOffset: 2, as: UInt16.self) == 0,
              let kind = SoftWire.FrameType(rawValue: type)
        else { return .lost(WSAECONNABORTED) }
        switch kind {
        case .data:
            guard length <= Int(limits.maxMessageSize) else { return .lost(WSAECONNABORTED) }
            expectLarge = length >= Self.largePayload
            if let op = posted.first {
                posted.popFirst()
                staging.consume(SoftWire.headerSize)
                frame = .message(op: op, remaining: length, placed: 0, capacity: op.total)
            } else if held == nil && length <= Self.heldLimit {
                staging.consume(SoftWire.headerSize)
                held = [UInt8](repeating: 0, count: length)
                heldFill = 0
                frame = .message(op: nil, remaining: length, placed: 0, capacity: length)
            } else {
                paused = true   // leave the header staged; a posted receive resumes us
                return .paused
            }
            return .progress
        case .rdmaWrite, .readRequest:
            let sub = SoftWire.rdmaHeaderSize
            switch ensure(SoftWire.headerSize + sub, fd: fd) {
            case .wouldBlock: return .wouldBlock
            case .lost(let e): return .lost(e)
            case .got: break
            }
            let r = SoftWire.readRdmaHeader(staging.pointer + SoftWire.headerSize)
            let expected = kind == .rdmaWrite ? sub + Int(r.length) : sub
            guard length == expected else { return .lost(WSAECONNABORTED) }
            staging.consume(SoftWire.headerSize + sub)
            let needs: MemoryAccess = kind == .rdmaWrite ? .write : .read
            guard let address = regions.begin(r, needs: needs) else {
                // Access violation: answer it, then the connection ends (as an RC QP would).
                var answer = OutgoingFrame()
                answer.header.length = answer.header.withBytes { p in
                    SoftWire.writeHeader(kind == .rdmaWrite ? .writeAck : .readResponse,
                                         length: SoftWire.statusHeaderSize, into: p)
                        + SoftWire.writeStatus(opId: r.opId, status: .accessViolation,
                                               into: p + SoftWire.headerSize)
                }
                frame = nil
                return .violation(answer)
            }
            expectLarge = Int(r.length) >= Self.largePayload
            if kind == .rdmaWrite {
                frame = .rdmaWrite(address: address, remaining: Int(r.length), regionId: r.regionId,
                                   opId: r.opId)
                return .progress
            }
            var response = OutgoingFrame()
            response.header.length = response.header.withBytes { p in
                SoftWire.writeHeader(.readResponse, length: SoftWire.statusHeaderSize + Int(r.length), into: p)
                    + SoftWire.writeStatus(opId: r.opId, status: .ok, into: p + SoftWire.headerSize)
            }
            response.payload = .region(address, Int(r.length), r.regionId)
            return .queue(response)
        case .readResponse, .writeAck:
            let sub = SoftWire.statusHeaderSize
            switch ensure(SoftWire.headerSize + sub, fd: fd) {
            case .wouldBlock: return .wouldBlock
            case .lost(let e): return .lost(e)
            case .got: break
            }
            let (opId, status) = SoftWire.readStatus(staging.pointer + SoftWire.headerSize)
            staging.consume(SoftWire.headerSize + sub)
            let waiting = kind == .writeAck ? awaitingAcks : awaitingReads
            // Answers come back in order: it must be for the oldest operation of that kind.
            guard let op = waiting.first, UInt64(op.overlapped) == opId
            else { return .lost(WSAECONNABORTED) }
            if kind == .writeAck {
                guard length == sub else { return .lost(WSAECONNABORTED) }
                awaitingAcks.popFirst()
                return .deliver(Completion(
                    op: op, error: status == 0 ? 0 : WSAEACCES, bytes: status == 0 ? op.total : 0))
            }
            awaitingReads.popFirst()
            if status != 0 {
                guard length == sub else { return .lost(WSAECONNABORTED) }
                return .deliver(Completion(op: op, error: WSAEACCES, bytes: 0))
            }
            guard length == sub + op.total else { return .lost(WSAECONNABORTED) }
            expectLarge = op.total >= Self.largePayload
            frame = .readResponse(op: op, remaining: op.total, placed: 0)
            return .progress
        case .disconnect:
            return .lost(WSAECONNRESET)
        case .hello, .accept, .reject:
            return .lost(WSAECONNABORTED)
        }
    }

    private mutating func continueFrame(_ current: IncomingFrame, fd: Int32, regions: SoftRegions) -> Step {
        switch current {
        case .message(let op, var remaining, var placed, let capacity):
            while remaining > 0 && placed < capacity {
                let want = min(remaining, capacity - placed)
                let got: Int
                if staging.available > 0 {
                    got = min(want, staging.available)
                    copyOut(op, at: placed, from: staging.pointer, count: got)
                    staging.consume(got)
                } else if want >= Self.directThreshold, let op {
                    switch readInto(op, at: placed, count: want, fd: fd, frameEnds: want == remaining) {
                    case .success(let n): got = n
                    case .failure(let failure):
                        frame = .message(op: op, remaining: remaining, placed: placed, capacity: capacity)
                        return failure.step
                    }
                } else {
                    switch fill(fd: fd) {
                    case .got: continue
                    case .wouldBlock:
                        frame = .message(op: op, remaining: remaining, placed: placed, capacity: capacity)
                        return .wouldBlock
                    case .lost(let e): return .lost(e)
                    }
                }
                remaining -= got
                placed += got
            }
            frame = nil
            guard let op else {
                // The held message is complete; a receive posted meanwhile takes it now.
                if let waiting = posted.popFirst(), let c = takeHeld(for: waiting) { return .deliver(c) }
                return .progress
            }
            if remaining > 0 {
                // Larger than the posted receive: the receive fails WSAEMSGSIZE with what fit;
                // the rest of the message is dropped (never delivered as another message).
                var truncated = op
                truncated.flags |= DWORD(WS_MSG_PARTIAL)
                frame = .discard(remaining: remaining,
                                 then: Completion(op: truncated, error: WSAEMSGSIZE, bytes: placed))
                return .progress
            }
            return .deliver(Completion(op: op, error: 0, bytes: placed))
        case .rdmaWrite(var address, var remaining, let regionId, let opId):
            while remaining > 0 {
                let got: Int
                if staging.available > 0 {
                    got = min(remaining, staging.available)
                    UnsafeMutableRawPointer(bitPattern: address)!.copyMemory(from: staging.pointer, byteCount: got)
                    staging.consume(got)
                } else {
                    // The rest of the payload, and the next frame's header in the same call.
                    staging.start = 0
                    staging.end = 0
                    let n = withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { iov -> Int in
                        iov[0] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: address), iov_len: remaining)
                        iov[1] = iovec(iov_base: staging.base, iov_len: SoftWire.headerSize)
                        return readv(fd, iov.baseAddress, 2)
                    }
                    if n > remaining {
                        staging.end = n - remaining
                        got = remaining
                    } else if n > 0 { got = n }
                    else if n == 0 { regions.end(regionId); return .lost(WSAECONNRESET) }
                    else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                        frame = .rdmaWrite(address: address, remaining: remaining, regionId: regionId, opId: opId)
                        return .wouldBlock
                    } else { regions.end(regionId); return .lost(SoftTransport.lossError(errno)) }
                }
                address += UInt(got)
                remaining -= got
            }
            regions.end(regionId)
            frame = nil
            var ack = OutgoingFrame()
            ack.header.length = ack.header.withBytes { p in
                SoftWire.writeHeader(.writeAck, length: SoftWire.statusHeaderSize, into: p)
                    + SoftWire.writeStatus(opId: opId, status: .ok, into: p + SoftWire.headerSize)
            }
            return .queue(ack)
        case .readResponse(let op, var remaining, var placed):
            while remaining > 0 {
                let got: Int
                if staging.available > 0 {
                    got = min(remaining, staging.available)
                    copyOut(op, at: placed, from: staging.pointer, count: got)
                    staging.consume(got)
                } else {
                    switch readInto(op, at: placed, count: remaining, fd: fd, frameEnds: true) {
                    case .success(let n): got = n
                    case .failure(let failure):
                        frame = .readResponse(op: op, remaining: remaining, placed: placed)
                        return failure.step
                    }
                }
                remaining -= got
                placed += got
            }
            frame = nil
            return .deliver(Completion(op: op, error: 0, bytes: placed))
        case .discard(var remaining, let then):
            while remaining > 0 {
                if staging.available == 0 {
                    switch fill(fd: fd) {
                    case .got: break
                    case .wouldBlock:
                        frame = .discard(remaining: remaining, then: then)
                        return .wouldBlock
                    case .lost(let e): return .lost(e)
                    }
                }
                let got = min(remaining, staging.available)
                staging.consume(got)
                remaining -= got
            }
            frame = nil
            if let then { return .deliver(then) }
            return .progress
        }
    }

    /// Scatters staged bytes into the operation's buffers (or the held message).
    private mutating func copyOut(_ op: TransferOp?, at offset: Int, from source: UnsafeRawPointer, count: Int) {
        guard let op else {
            held!.withUnsafeMutableBytes { ($0.baseAddress! + offset).copyMemory(from: source, byteCount: count) }
            heldFill = offset + count
            return
        }
        var skip = offset, copied = 0
        for i in 0..<op.count where copied < count {
            let (address, length) = op.buffer(i)
            if skip >= length { skip -= length; continue }
            let n = min(length - skip, count - copied)
            UnsafeMutableRawPointer(bitPattern: address + UInt(skip))!
                .copyMemory(from: source + copied, byteCount: n)
            copied += n
            skip = 0
        }
    }

    /// readv straight into the operation's buffers from `offset`, at most `count` bytes. When
    /// those are the last bytes of the frame (`frameEnds`), the same call also reads the next
    /// frame's header into the (empty) staging area: one system call per large message.
    private mutating func readInto(_ op: TransferOp, at offset: Int, count: Int, fd: Int32,
                                   frameEnds: Bool) -> Result<Int, StepFailure> {
        let ahead = frameEnds && staging.available == 0
        if ahead { staging.start = 0; staging.end = 0 }
        // At most maximumIovecs entries (1 KiB): withUnsafeTemporaryAllocation keeps that on the
        // stack; anything larger goes to the heap, once per message.
        let payloadIovecs = SoftSender.maximumIovecs - (ahead ? 1 : 0)
        let got = withUnsafeTemporaryAllocation(of: iovec.self, capacity: SoftSender.maximumIovecs) { iov -> Int in
            var n = 0, skip = offset, budget = count
            for i in 0..<op.count where budget > 0 && n < payloadIovecs {
                let (address, length) = op.buffer(i)
                if skip >= length { skip -= length; continue }
                let take = min(length - skip, budget)
                iov[n] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: address + UInt(skip)), iov_len: take)
                n += 1
                budget -= take
                skip = 0
            }
            // Only when the payload iovecs cover all `count` bytes: then anything past them is
            // the next frame.
            if ahead && budget == 0 {
                iov[n] = iovec(iov_base: staging.base, iov_len: SoftWire.headerSize)
                n += 1
            }
            return readv(fd, iov.baseAddress, Int32(n))
        }
        if got > count {
            staging.end = got - count
            return .success(count)
        }
        if got > 0 { return .success(got) }
        if got == 0 { return .failure(StepFailure(.lost(WSAECONNRESET))) }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return .failure(StepFailure(.wouldBlock)) }
        return .failure(StepFailure(.lost(SoftTransport.lossError(errno))))
    }

    /// Delivers the held first message into a newly posted receive.
    mutating func takeHeld(for op: TransferOp) -> Completion? {
        guard let message = held, frame == nil || !isFillingHeld else { return nil }
        held = nil
        let fit = min(message.count, op.total)
        message.withUnsafeBytes { copyOut(op, at: 0, from: $0.baseAddress!, count: fit) }
        if fit < message.count {
            var truncated = op
            truncated.flags |= DWORD(WS_MSG_PARTIAL)
            return Completion(op: truncated, error: WSAEMSGSIZE, bytes: fit)
        }
        return Completion(op: op, error: 0, bytes: fit)
    }

    private var isFillingHeld: Bool {
        if case .message(nil, _, _, _)? = frame { return true }
        return false
    }

    /// Everything pending, for close or loss.
    mutating func drain() -> [TransferOp] {
        var ops = posted.drain() + awaitingAcks.drain() + awaitingReads.drain()
        switch frame {
        case .message(let op?, _, _, _)?: ops.append(op)
        case .readResponse(let op, _, _)?: ops.append(op)
        case .discard(_, let then?)?: ops.append(then.op)
        default: break
        }
        frame = nil
        return ops
    }

    func isUsing(base: UInt, length: Int) -> Bool {
        let check: (TransferOp) -> Bool = { $0.uses(base: base, length: length) }
        if posted.contains(where: check) || awaitingAcks.contains(where: check)
            || awaitingReads.contains(where: check) { return true }
        switch frame {
        case .message(let op?, _, _, _)?: return check(op)
        case .readResponse(let op, _, _)?: return check(op)
        default: return false
        }
    }

    func freeStaging() { staging.base.deallocate() }
}

struct StepFailure: Error {
    let step: SoftReceiver.Step
    init(_ step: SoftReceiver.Step) { self.step = step }
}
