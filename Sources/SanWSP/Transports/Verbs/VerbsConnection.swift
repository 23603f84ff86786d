import CSystem
import CVerbs
import Glibc
import Synchronization
import WinSock

/// An established verbs connection: an RC queue pair whose own completion queue (with a
/// completion channel in the progress engine) completes the switch's operations. The switch's
/// buffers are posted as they are (scatter/gather entries with the lkeys of their
/// registrations); RDMA write and read go straight to the peer's region (address + rkey from the
/// descriptor). The HCA enforces keys, bounds and rights; a violation fails the operation with
/// WSAEACCES and breaks the queue pair, as RC does.
///
/// Locks: `sends`, `receives` (never together, except in `stopPosting`), then `memory`.
final class VerbsConnection: TransportConnection, CMEventTarget, @unchecked Sendable {
    // @unchecked: the verbs objects are created in `create`, used under the locks below, and
    // destroyed once, after posting has stopped.
    private let transport: VerbsTransport
    private let library: VerbsLibrary
    let id: CMId
    private let device: VerbsDevice
    private let channel: UnsafeMutablePointer<ibv_comp_channel>
    private let cq: UnsafeMutablePointer<ibv_cq>
    private let qp: UnsafeMutablePointer<ibv_qp>
    private let events: ConnectionEvents
    private let maxInline: Int
    private let maxSge: Int

    static let queueDepth = 128
    static let sgeLimit: UInt32 = 16

    /// Work requests in flight on one queue, by slot (the wr_id), plus those waiting for a slot.
    private struct Queue {
        struct Waiting { var op: TransferOp; var remote: RemoteRegion?; var offset: UInt32 }
        var slots: [TransferOp?]
        var free: [Int]
        var waiting = Ring<Waiting>(capacity: 16)
        var lostError: Int32?
        var fenceNext = false
        init(depth: Int) {
            slots = Array(repeating: nil, count: depth)
            free = Array((0..<depth).reversed())
        }
        mutating func drain() -> [TransferOp] {
            var ops = slots.compactMap { $0 }
            slots = Array(repeating: nil, count: slots.count)
            free = Array((0..<slots.count).reversed())
            ops += waiting.drain().map(\.op)
            return ops
        }
    }
    private let sends = Mutex(Queue(depth: VerbsConnection.queueDepth))
    private let receives = Mutex(Queue(depth: VerbsConnection.queueDepth))

    private struct Memory {
        struct Local { var base: UInt; var length: Int; var mr: UInt; var references: Int }
        var local: [Local] = []
        var regions: [UInt64: (mr: UInt, region: RemoteRegion)] = [:]
        var nextRegion: UInt64 = 1
    }
    private let memory = Mutex(Memory())
    private struct Control {
        var registration: RegistrationID?
        var finished = false
        /// Accepted, but the event that ends the handshake (ESTABLISHED on the caller's RTU, or
        /// a failure) has not come yet; `establishedAtEnd` says which one it was.
        var awaitingEstablished = false
        var establishedAtEnd = false
        /// Closed in that window, its queue pair already gone: the rdma_cm id lingers until the
        /// handshake ends (see close).
        var lingering = false
        /// The queue pair is destroyed (by close, on the caller's thread): a loss noticed on the
        /// loop thread at the same time must not touch it. Both happen under this lock.
        var qpDestroyed = false
    }
    private let control = Mutex(Control())

    private static let receiveBit: UInt64 = 1 << 63

    private init(transport: VerbsTransport, id: CMId, device: VerbsDevice,
                 channel: UnsafeMutablePointer<ibv_comp_channel>, cq: UnsafeMutablePointer<ibv_cq>,
                 qp: UnsafeMutablePointer<ibv_qp>, events: ConnectionEvents, maxInline: Int, maxSge: Int) {
        self.transport = transport
        library = transport.library
        self.id = id
        self.device = device
        self.channel = channel
        self.cq = cq
        self.qp = qp
        self.events = events
        self.maxInline = maxInline
        self.maxSge = maxSge
    }

    /// Creates the completion channel, completion queue and queue pair for `id`.
    static func create(transport: VerbsTransport, id: CMId, events: ConnectionEvents)
        throws(WSAError) -> VerbsConnection
    {
        let library = transport.library
        guard let context = id.pointer.pointee.verbs else { throw .addressNotAvailable }
        let device = try transport.device(for: context)
        guard let channel = library.createCompChannel(context) else { throw .noBuffers }
        let fd = channel.pointee.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        guard let cq = library.createCq(context, Int32(2 * queueDepth + 2), nil, channel, 0) else {
            _ = library.destroyCompChannel(channel)
            throw .noBuffers
        }
        var attr = ibv_qp_init_attr()
        attr.send_cq = cq
        attr.recv_cq = cq
        attr.qp_type = IBV_QPT_RC
        attr.cap.max_send_wr = UInt32(queueDepth)
        attr.cap.max_recv_wr = UInt32(queueDepth)
        attr.cap.max_send_sge = sgeLimit
        attr.cap.max_recv_sge = sgeLimit
        attr.cap.max_inline_data = 64
        guard library.createQp(id.pointer, device.pd, &attr) == 0, let qp = id.pointer.pointee.qp else {
            _ = library.destroyCq(cq)
            _ = library.destroyCompChannel(channel)
            throw .noBuffers
        }
        let connection = VerbsConnection(
            transport: transport, id: id, device: device, channel: channel, cq: cq, qp: qp,
            events: events, maxInline: Int(attr.cap.max_inline_data),
            maxSge: Int(min(attr.cap.max_send_sge, attr.cap.max_recv_sge)))
        _ = ibv_req_notify_cq(cq, 0)
        // Strong, as in SoftConnection.start: a weak capture would put every retain/release of
        // the connection (several per posted operation) on the runtime's slow path. `close`
        // removes the registration (the routing table holds the connection until then too).
        let handler: EventLoop.Handler = { [connection] _ in connection.completionsReady() }
        guard let registration = try? transport.loop.register(fd: fd, events: EpollEvent.input, handler: handler)
        else {
            _ = connection.close()
            throw .noBuffers
        }
        connection.control.withLock { $0.registration = registration }
        return connection
    }

    /// rdma_connect / rdma_accept parameters: one RDMA read in flight each way, infinite RNR
    /// retry (a message waits for the peer's next posted receive: link-level flow control, so
    /// no message is ever dropped for want of a receive).
    static func connectionParameters(_ privateData: UnsafeMutableRawBufferPointer) -> rdma_conn_param {
        var p = rdma_conn_param()
        p.private_data = UnsafeRawPointer(privateData.baseAddress)
        p.private_data_len = UInt8(privateData.count)
        p.responder_resources = 4
        p.initiator_depth = 4
        p.retry_count = 7
        p.rnr_retry_count = 7
        return p
    }

    /// The passive side, around rdma_accept: set before it (the ESTABLISHED event may come at
    /// once), cleared if it failed.
    func awaitEstablished(_ awaiting: Bool) {
        control.withLock { $0.awaitingEstablished = awaiting }
    }

    // MARK: posting

    func send(_ op: TransferOp) throws(WSAError) { try post(op, remote: nil, offset: 0) }

    func rdmaWrite(_ op: TransferOp, to remote: RemoteRegion, offset: UInt32) throws(WSAError) {
        try post(op, remote: remote, offset: offset)
    }

    func rdmaRead(_ op: TransferOp, from remote: RemoteRegion, offset: UInt32) throws(WSAError) {
        try post(op, remote: remote, offset: offset)
    }

    func receive(_ op: TransferOp) throws(WSAError) { try receive(op, waited: false) }

    /// `waited`: the operation comes from the waiting queue, ahead of anything queued later.
    private func receive(_ op: TransferOp, waited: Bool) throws(WSAError) {
        guard op.count <= maxSge else { throw .invalid }
        try receives.withLock { (q: inout Queue) throws(WSAError) in
            if let e = q.lostError { throw WSAError(e) }
            guard waited || q.waiting.isEmpty, let slot = q.free.popLast() else {
                q.waiting.append(.init(op: op, remote: nil, offset: 0))
                return
            }
            q.slots[slot] = op
            if let e = postReceive(op, slot: slot) {
                q.slots[slot] = nil
                q.free.append(slot)
                throw e
            }
        }
    }

    private func post(_ op: TransferOp, remote: RemoteRegion?, offset: UInt32, waited: Bool = false)
        throws(WSAError)
    {
        guard op.count <= maxSge else { throw .invalid }
        try sends.withLock { (q: inout Queue) throws(WSAError) in
            if let e = q.lostError { throw WSAError(e) }
            guard waited || q.waiting.isEmpty, let slot = q.free.popLast() else {
                q.waiting.append(.init(op: op, remote: remote, offset: offset))
                return
            }
            q.slots[slot] = op
            if let e = postSend(op, remote: remote, offset: offset, slot: slot, queue: &q) {
                q.slots[slot] = nil
                q.free.append(slot)
                throw e
            }
        }
    }

    /// Builds the scatter/gather list of an operation from the switch's buffers.
    private func withSges<R>(_ op: TransferOp, _ body: (UnsafeMutablePointer<ibv_sge>, Int) -> R)
        -> Result<R, WSAError>
    {
        withUnsafeTemporaryAllocation(of: ibv_sge.self, capacity: max(op.count, 1)) { sges in
            var n = 0
            for i in 0..<op.count {
                let (address, length) = op.buffer(i)
                if length == 0 { continue }
                guard let lkey = lkey(address, length) else { return .failure(.fault) }
                sges[n] = ibv_sge(addr: UInt64(address), length: UInt32(length), lkey: lkey)
                n += 1
            }
            return .success(body(sges.baseAddress!, n))
        }
    }

    private func postSend(_ op: TransferOp, remote: RemoteRegion?, offset: UInt32, slot: Int,
                          queue q: inout Queue) -> WSAError? {
        let result = withSges(op) { sges, n -> Int32 in
            var wr = ibv_send_wr()
            wr.wr_id = UInt64(slot)
            wr.sg_list = sges
            wr.num_sge = Int32(n)
            var flags = IBV_SEND_SIGNALED.rawValue
            switch op.kind {
            case .rdmaWrite:
                wr.opcode = IBV_WR_RDMA_WRITE
                sanwsp_wr_set_rdma(&wr, remote!.address &+ UInt64(offset), remote!.rkey)
            case .rdmaRead:
                wr.opcode = IBV_WR_RDMA_READ
                sanwsp_wr_set_rdma(&wr, remote!.address &+ UInt64(offset), remote!.rkey)
            default:
                wr.opcode = IBV_WR_SEND
                // A message after an RDMA read must not overtake it: the peer could take the
                // message as "read done" before the read finished.
                if q.fenceNext { flags |= IBV_SEND_FENCE.rawValue; q.fenceNext = false }
                if op.total <= maxInline { flags |= IBV_SEND_INLINE.rawValue }
            }
            if op.kind == .rdmaRead { q.fenceNext = true }
            wr.send_flags = flags
            var bad: UnsafeMutablePointer<ibv_send_wr>?
            return ibv_post_send(qp, &wr, &bad)
        }
        switch result {
        case .failure(let e): return e
        case .success(let rc): return rc == 0 ? nil : WSAError(WSAENOBUFS)
        }
    }

    private func postReceive(_ op: TransferOp, slot: Int) -> WSAError? {
        let result = withSges(op) { sges, n -> Int32 in
            var wr = ibv_recv_wr()
            wr.wr_id = Self.receiveBit | UInt64(slot)
            wr.sg_list = sges
            wr.num_sge = Int32(n)
            var bad: UnsafeMutablePointer<ibv_recv_wr>?
            return ibv_post_recv(qp, &wr, &bad)
        }
        switch result {
        case .failure(let e): return e
        case .success(let rc): return rc == 0 ? nil : WSAError(WSAENOBUFS)
        }
    }

    // MARK: completions

    private func completionsReady() {
        var eventCq: UnsafeMutablePointer<ibv_cq>?
        var context: UnsafeMutableRawPointer?
        if library.getCqEvent(channel, &eventCq, &context) == 0 { library.ackCqEvents(cq, 1) }
        _ = ibv_req_notify_cq(cq, 0)
        withUnsafeTemporaryAllocation(of: ibv_wc.self, capacity: 16) { wcs in
            while true {
                let n = ibv_poll_cq(cq, 16, wcs.baseAddress!)
                if n <= 0 { return }
                for i in 0..<Int(n) { complete(wcs[i]) }
            }
        }
    }

    private static func error(for status: ibv_wc_status) -> Int32 {
        switch status {
        case IBV_WC_SUCCESS: 0
        case IBV_WC_LOC_LEN_ERR: WSAEMSGSIZE
        case IBV_WC_REM_ACCESS_ERR, IBV_WC_REM_INV_REQ_ERR: WSAEACCES
        case IBV_WC_LOC_PROT_ERR, IBV_WC_LOC_ACCESS_ERR: WSAEFAULT
        case IBV_WC_RETRY_EXC_ERR, IBV_WC_RNR_RETRY_EXC_ERR: WSAETIMEDOUT
        default: WSAECONNABORTED
        }
    }

    private func complete(_ wc: ibv_wc) {
        let isReceive = wc.wr_id & Self.receiveBit != 0
        let slot = Int(wc.wr_id & ~Self.receiveBit)
        var error = Self.error(for: wc.status)
        let flushed = wc.status == IBV_WC_WR_FLUSH_ERR
        let taken = isReceive
            ? receives.withLock { Self.take(&$0, slot: slot, flushed: flushed, sendSide: false) }
            : sends.withLock { Self.take(&$0, slot: slot, flushed: flushed, sendSide: true) }
        if let lost = taken.lostError { error = lost }
        let next = taken.next.map { [$0] } ?? []
        let op = taken.op.flatMap { events.reserveDelivery() ? $0 : nil }
        for w in next { try? resubmit(w) }
        if isReceive, !flushed {
            let waiting = receives.withLock { q -> Queue.Waiting? in
                q.lostError == nil ? q.waiting.popFirst() : nil
            }
            if let waiting { try? receive(waiting.op, waited: true) }
        }
        guard let op else { return }
        var bytes = error == 0 ? (isReceive ? Int(wc.byte_len) : op.total) : 0
        if error == WSAEMSGSIZE { bytes = op.total }
        events.transferCompleted(op, error: error, bytes: bytes)
        if error != 0 && !flushed { lose(WSAECONNABORTED) }
    }

    /// Frees a completed slot; a freed send slot takes the next waiting operation.
    private static func take(_ q: inout Queue, slot: Int, flushed: Bool, sendSide: Bool)
        -> (op: TransferOp?, next: Queue.Waiting?, lostError: Int32?)
    {
        guard slot < q.slots.count, let op = q.slots[slot] else { return (nil, nil, nil) }
        q.slots[slot] = nil
        q.free.append(slot)
        let next = sendSide && q.lostError == nil ? q.waiting.popFirst() : nil
        return (op, next, flushed ? q.lostError : nil)
    }

    private func resubmit(_ w: Queue.Waiting) throws(WSAError) {
        try post(w.op, remote: w.remote, offset: w.offset, waited: true)
    }

    // MARK: memory

    private func lkey(_ address: UInt, _ length: Int) -> UInt32? {
        memory.withLock { m in
            for l in m.local where address >= l.base && address + UInt(length) <= l.base + UInt(l.length) {
                return UnsafeMutablePointer<ibv_mr>(bitPattern: l.mr)!.pointee.lkey
            }
            return nil
        }
    }

    func registerLocal(base: UInt, length: Int, access: MemoryAccess) throws(WSAError) {
        try memory.withLock { (m: inout Memory) throws(WSAError) in
            if let i = m.local.firstIndex(where: { $0.base == base && $0.length == length }) {
                m.local[i].references += 1
                return
            }
            guard let mr = library.regMr(device.pd, UnsafeMutableRawPointer(bitPattern: base), length,
                                         Int32(IBV_ACCESS_LOCAL_WRITE.rawValue)) else { throw .noBuffers }
            m.local.append(.init(base: base, length: length, mr: UInt(bitPattern: mr), references: 1))
        }
    }

    func deregisterLocal(base: UInt, length: Int, access: MemoryAccess) {
        let mr = memory.withLock { m -> UInt? in
            guard let i = m.local.firstIndex(where: { $0.base == base && $0.length == length }) else { return nil }
            m.local[i].references -= 1
            guard m.local[i].references == 0 else { return nil }
            return m.local.remove(at: i).mr
        }
        if let mr { _ = library.deregMr(UnsafeMutablePointer(bitPattern: mr)) }
    }

    func expose(base: UInt, length: Int, access: MemoryAccess) throws(WSAError) -> RemoteRegion {
        var flags = IBV_ACCESS_LOCAL_WRITE.rawValue
        if access.contains(.read) { flags |= IBV_ACCESS_REMOTE_READ.rawValue }
        if access.contains(.write) { flags |= IBV_ACCESS_REMOTE_WRITE.rawValue }
        guard let mr = library.regMr(device.pd, UnsafeMutableRawPointer(bitPattern: base), length, Int32(flags))
        else { throw .noBuffers }
        return memory.withLock { m in
            let region = RemoteRegion(
                regionId: m.nextRegion, key: 0, address: UInt64(base), rkey: mr.pointee.rkey,
                length: UInt32(truncatingIfNeeded: length), access: access)
            m.regions[m.nextRegion] = (UInt(bitPattern: mr), region)
            m.nextRegion += 1
            return region
        }
    }

    /// The HCA cannot tell us whether a peer's RDMA is in progress, so revocation is
    /// immediate: a later remote access fails at the peer (WSAEACCES).
    func revoke(_ region: RemoteRegion) throws(WSAError) {
        let mr = try memory.withLock { (m: inout Memory) throws(WSAError) -> UInt in
            guard let entry = m.regions[region.regionId], entry.region.rkey == region.rkey else {
                throw .invalid
            }
            m.regions[region.regionId] = nil
            return entry.mr
        }
        _ = library.deregMr(UnsafeMutablePointer(bitPattern: mr))
    }

    func isUsing(base: UInt, length: Int) -> Bool {
        func check(_ q: Queue) -> Bool {
            q.slots.contains { $0?.uses(base: base, length: length) == true }
                || q.waiting.contains { $0.op.uses(base: base, length: length) }
        }
        return sends.withLock { check($0) } || receives.withLock { check($0) }
    }

    func driveProgress(until done: () -> Bool) -> Bool { false }

    // MARK: ending

    /// rdma_cm events of an established connection.
    func handle(_ event: CMEvent) {
        let lingered = control.withLock { c -> Bool? in
            guard c.awaitingEstablished else { return nil }
            c.awaitingEstablished = false
            c.establishedAtEnd = event.type == RDMA_CM_EVENT_ESTABLISHED
            return c.lingering ? c.establishedAtEnd : nil
        }
        if let established = lingered {
            // Closed before the caller's RTU, and the handshake is over now: end it as the
            // close would have.
            return endLinger(established: established)
        }
        switch event.type {
        case RDMA_CM_EVENT_ESTABLISHED: break
        default: lose(WSAECONNRESET)   // DISCONNECTED, DEVICE_REMOVAL, TIMEWAIT_EXIT...
        }
    }

    /// Stops new posts and collects what was never handed to the HCA (and, for `all`, what was).
    private func stopPosting(_ error: Int32, all: Bool) -> [TransferOp] {
        var ops: [TransferOp] = []
        sends.withLock { q in
            q.lostError = q.lostError ?? error
            ops += all ? q.drain() : q.waiting.drain().map(\.op)
        }
        receives.withLock { q in
            q.lostError = q.lostError ?? error
            ops += all ? q.drain() : q.waiting.drain().map(\.op)
        }
        return ops
    }

    /// The peer left or the queue pair broke: flush what the HCA holds (completing with
    /// `error`), fail what waits, report the loss once.
    private func lose(_ error: Int32) {
        let first = control.withLock { c -> Bool in
            guard !c.finished else { return false }
            c.finished = true
            return true
        }
        guard first else { return }
        let waiting = stopPosting(error, all: false)
        control.withLock { c in
            guard !c.qpDestroyed else { return }
            var attr = ibv_qp_attr()
            attr.qp_state = IBV_QPS_ERR
            _ = library.modifyQp(qp, &attr, Int32(IBV_QP_STATE.rawValue))
        }
        for op in waiting where events.reserveDelivery() {
            events.transferCompleted(op, error: error, bytes: 0)
        }
        events.connectionLost(error: error)
    }

    /// Local close: the queue pair is destroyed before this returns, so the HCA touches none of
    /// the returned operations' buffers afterwards; the rest is released on the loop thread.
    ///
    /// Closed after WSPAccept but before the caller's RTU came, tearing the id down would make
    /// the passive CM reject a handshake the caller is completing: its connect would fail
    /// although it was accepted. So the queue pair goes now, but the id lingers, routed here,
    /// until the handshake ends (`handle`); the caller then sees an accepted connection that is
    /// disconnected, as with TCP.
    func close() -> [TransferOp] {
        let linger = control.withLock { c -> Bool in
            c.finished = true
            return c.awaitingEstablished
        }
        let ops = stopPosting(WSAECONNABORTED, all: true)
        if !linger { _ = library.disconnect(id.pointer) }
        control.withLock { c in
            c.qpDestroyed = true
            self.library.destroyQp(self.id.pointer)
        }
        let registration = control.withLock { c -> RegistrationID? in defer { c.registration = nil }; return c.registration }
        let library = self.library, transport = self.transport, id = self.id
        let cq = UInt(bitPattern: self.cq), channel = UInt(bitPattern: self.channel)
        let mrs = memory.withLock { m -> [UInt] in
            defer { m.local = []; m.regions = [:] }
            return m.local.map(\.mr) + m.regions.values.map(\.mr)
        }
        let teardown: @Sendable () -> Void = {
            if let registration { transport.loop.unregister(registration) }
            for mr in mrs { _ = library.deregMr(UnsafeMutablePointer(bitPattern: mr)) }
            _ = library.destroyCq(UnsafeMutablePointer(bitPattern: cq))
            _ = library.destroyCompChannel(UnsafeMutablePointer(bitPattern: channel))
            if !linger { transport.destroy(id) }
        }
        if transport.loop.inLoopThread { teardown() } else if !transport.loop.execute(teardown) { teardown() }
        if linger {
            // From here on the event that ends the handshake ends the linger (`handle`); if it
            // came while this close ran, end it now.
            let ended = control.withLock { c -> Bool? in
                c.lingering = true
                return c.awaitingEstablished ? nil : c.establishedAtEnd
            }
            if let established = ended { endLinger(established: established) }
        }
        return ops
    }

    /// The lingering id goes (on the loop thread), after a DREQ if the caller got connected.
    private func endLinger(established: Bool) {
        let library = self.library, transport = self.transport, id = self.id
        let end: @Sendable () -> Void = {
            if established { _ = library.disconnect(id.pointer) }
            transport.destroy(id)
        }
        if transport.loop.inLoopThread { end() } else if !transport.loop.execute(end) { end() }
    }
}
