import WinSock

/// The internal transport protocol: what the provider core needs from a transport (soft over
/// kernel TCP, verbs over rdma_cm/ibverbs). Transports call back on their progress-engine
/// thread; the core never holds a socket lock while calling into a transport.

/// Connect data limit shared by every transport, so a switch sees one answer whatever carries
/// the connection: 48 bytes fit in an InfiniBand CM REQ's private data after rdma_cm's and
/// sanwsp's own headers (docs/WIRE.md).
enum ConnectData {
    static let maximum = 48
}

/// Why a listener turned a request down; each maps to the caller's final WSPConnect code.
enum RejectReason: UInt32, Sendable {
    case refused = 1        // CF_REJECT → WSAECONNREFUSED
    case backlogFull = 2    // → WSAECONNREFUSED
    case noListener = 3     // listener closed / wrong address → WSAECONNRESET
    case badVersion = 4     // → WSAEADDRNOTAVAIL (fall back to TCP)
}

/// What an overlapped transfer is.
enum TransferKind: UInt8, Sendable {
    case send, receive, rdmaWrite, rdmaRead
}

/// The local buffers of one operation, copied from the switch's WSABUF / WSABUFEX array when
/// the operation is posted (the switch may reuse the array at once, as with the InfiniBand
/// provider). Up to four are kept inline, so the usual one- or two-buffer operation allocates
/// nothing.
struct Segments: Sendable {
    private var inline: ((UInt, Int), (UInt, Int), (UInt, Int), (UInt, Int)) =
        ((0, 0), (0, 0), (0, 0), (0, 0))
    /// Buffers past the fourth: a reference only when needed, so copying the common case
    /// touches no reference count.
    private final class Overflow: @unchecked Sendable {
        // @unchecked: filled while the operation is built, read-only afterwards.
        var items: [(UInt, Int)] = []
    }
    private var more: Overflow?
    private(set) var count = 0
    private(set) var total = 0

    static let inlineCapacity = 4

    init() {}

    /// Copies `count` buffers; WSAEFAULT for a NULL array, WSAEINVAL past `limit` buffers.
    init(_ pointer: UnsafeRawPointer?, count: Int, extended: Bool, limit: Int) throws(WSAError) {
        guard count == 0 || pointer != nil else { throw .fault }
        guard count <= limit else { throw .invalid }
        for i in 0..<count {
            if extended {
                let b = pointer!.assumingMemoryBound(to: WSABUFEX.self)[i]
                append(UInt(bitPattern: b.buf), Int(b.len))
            } else {
                let b = pointer!.assumingMemoryBound(to: WSABUF.self)[i]
                append(UInt(bitPattern: b.buf), Int(b.len))
            }
        }
    }

    mutating func append(_ address: UInt, _ length: Int) {
        switch count {
        case 0: inline.0 = (address, length)
        case 1: inline.1 = (address, length)
        case 2: inline.2 = (address, length)
        case 3: inline.3 = (address, length)
        default:
            if more == nil { more = Overflow() }
            more!.items.append((address, length))
        }
        count += 1
        total += length
    }

    subscript(i: Int) -> (UInt, Int) {
        switch i {
        case 0: inline.0
        case 1: inline.1
        case 2: inline.2
        case 3: inline.3
        default: more!.items[i - Self.inlineCapacity]
        }
    }
}

/// One overlapped operation as the transport carries it: the switch's WSAOVERLAPPED by address
/// (it stays valid until the operation completes) and its buffers. No allocation per operation.
struct TransferOp: Sendable {
    var overlapped: UInt   // LPWSAOVERLAPPED
    var segments: Segments
    var kind: TransferKind
    var flags: DWORD = 0   // reported back in WSAOVERLAPPED.Offset

    var count: Int { segments.count }
    var total: Int { segments.total }

    /// The i-th local buffer (address, length).
    func buffer(_ i: Int) -> (UInt, Int) { segments[i] }

    func uses(base: UInt, length: Int) -> Bool {
        for i in 0..<count {
            let (address, size) = buffer(i)
            if address < base &+ UInt(length) && base < address &+ UInt(size) { return true }
        }
        return false
    }
}

/// A peer's RDMA region as its descriptor names it.
struct RemoteRegion: Sendable, Equatable {
    var regionId: UInt64
    var key: UInt64
    var address: UInt64
    var rkey: UInt32
    var length: UInt32
    var access: MemoryAccess
}

/// Receives what happens to an established connection.
protocol ConnectionEvents: AnyObject, Sendable {
    /// The connection is gone (peer closed, transport error, dead peer). Called at most once;
    /// operations still pending complete with `error` (soft: before this call; verbs: as the
    /// queue pair flushes them).
    func connectionLost(error: Int32)
    /// Reserves the right to deliver one completion; false once the socket has made its final
    /// upcall. Called by the transport with its own locks held (it takes no socket lock).
    func reserveDelivery() -> Bool
    /// Delivers a reserved completion. Called with no transport lock held.
    func transferCompleted(_ op: TransferOp, error: Int32, bytes: Int)
}

/// An established connection: message transfer, RDMA, and the regions it exposes to the peer.
protocol TransportConnection: AnyObject, Sendable {
    /// Tears the connection down toward the peer; idempotent, never blocks. Returns the
    /// operations still pending, which the caller completes as aborted; no completion callback
    /// for them follows.
    func close() -> [TransferOp]
    /// Queues one message (WSPSend). Throws the stored error once the connection is lost.
    func send(_ op: TransferOp) throws(WSAError)
    /// Posts a receive for one message (WSPRecv).
    func receive(_ op: TransferOp) throws(WSAError)
    func rdmaWrite(_ op: TransferOp, to remote: RemoteRegion, offset: UInt32) throws(WSAError)
    func rdmaRead(_ op: TransferOp, from remote: RemoteRegion, offset: UInt32) throws(WSAError)
    /// Lets the peer reach [base, base+length) with `access`; returns what the descriptor names.
    func expose(base: UInt, length: Int, access: MemoryAccess) throws(WSAError) -> RemoteRegion
    /// Revokes an exposed region: WSAEINVAL if unknown or in use by a transfer.
    func revoke(_ region: RemoteRegion) throws(WSAError)
    /// WSPRegisterMemory / WSPDeregisterMemory of a range on this connection (verbs registers
    /// it with the device; soft has nothing to do).
    func registerLocal(base: UInt, length: Int, access: MemoryAccess) throws(WSAError)
    func deregisterLocal(base: UInt, length: Int, access: MemoryAccess)
    /// True while a pending operation uses memory in [base, base+length).
    func isUsing(base: UInt, length: Int) -> Bool
    /// Lets a thread blocked in WSPGetOverlappedResult drive the connection itself until
    /// `done()` holds (saves waking the engine thread: one wake-up per message instead of two).
    /// Returns false when the transport has no such path; the caller then waits normally.
    func driveProgress(until done: () -> Bool) -> Bool
}

/// An incoming request held by a listener until WSPAccept decides.
protocol IncomingRequest: AnyObject, Sendable {
    var kind: TransportKind { get }
    var caller: SocketAddress { get }       // the caller's switch-bound address
    var destination: SocketAddress { get }  // the local address it arrived at
    var callerData: [UInt8] { get }
    /// Completes the peer's connect with `calleeData`. Throws WSAECONNRESET if the caller gave
    /// up meanwhile.
    func accept(calleeData: [UInt8], events: ConnectionEvents) throws(WSAError)
        -> TransportConnection
    func reject(_ reason: RejectReason)
}

/// Receives a listener's requests.
protocol ListenerEvents: AnyObject, Sendable {
    /// A complete request arrived. Return false when the backlog is full: the transport then
    /// rejects it (backlogFull) at once.
    func requestArrived(_ request: IncomingRequest) -> Bool
    /// The caller gave up before WSPAccept took the request.
    func requestWithdrawn(_ request: IncomingRequest)
}

protocol TransportListener: AnyObject, Sendable {
    /// Stops listening; requests not yet accepted are rejected with `noListener`.
    func close()
}

/// Receives the outcome of an outgoing connect; exactly one of the two is called.
protocol ConnectEvents: AnyObject, Sendable {
    func connected(_ connection: TransportConnection, calleeData: [UInt8])
    func connectFailed(error: Int32)
}

protocol PendingConnect: AnyObject, Sendable {
    /// Aborts the attempt; no callback follows.
    func abort()
}

/// Which transport carries a connection (reported by the SO_SANWSP_TRANSPORT option).
enum TransportKind: UInt32, Sendable {
    case soft = 1
    case verbs = 2
}

protocol Transport: AnyObject, Sendable {
    var kind: TransportKind { get }
    func listen(on address: SocketAddress, events: ListenerEvents) throws(WSAError)
        -> TransportListener
    func connect(from local: SocketAddress, to remote: SocketAddress, callerData: [UInt8],
                 events: ConnectEvents, connectionEvents: ConnectionEvents) throws(WSAError)
        -> PendingConnect
}
