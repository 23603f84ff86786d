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

/// Receives what happens to an established connection.
protocol ConnectionEvents: AnyObject, Sendable {
    /// The connection is gone (peer closed, transport error, dead peer). Called at most once.
    func connectionLost(error: Int32)
}

/// An established connection.
protocol TransportConnection: AnyObject, Sendable {
    /// Tears the connection down toward the peer; idempotent, never blocks, no callbacks after.
    func close()
}

/// An incoming request held by a listener until WSPAccept decides.
protocol IncomingRequest: AnyObject, Sendable {
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

protocol Transport: AnyObject, Sendable {
    var name: String { get }
    func listen(on address: SocketAddress, events: ListenerEvents) throws(WSAError)
        -> TransportListener
    func connect(from local: SocketAddress, to remote: SocketAddress, callerData: [UInt8],
                 events: ConnectEvents, connectionEvents: ConnectionEvents) throws(WSAError)
        -> PendingConnect
}
