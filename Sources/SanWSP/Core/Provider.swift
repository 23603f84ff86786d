import Synchronization
import WinSock

/// Process-wide provider state: startup reference count, the switch's upcalls, the socket table.
final class Provider: Sendable {
    static let shared = Provider()

    let sockets = HandleTable<ProviderSocket>()
    let bindings = BindTable()
    let registrationCache = RegistrationCache()

    struct Started: Sendable {
        var refCount = 0
        var upcalls: Upcalls?
        var served = ServedAddresses(filter: nil)
        var transports: Transports?
    }
    private let started = Mutex(Started())

    /// WSPStartupEx: version 2.2 only (a higher request is negotiated down to 2.2). The first
    /// successful call keeps the upcall table and reads the configuration; later calls only
    /// count (one switch per process).
    func startup(version: WORD, upcalls table: WSPUPCALLTABLEEX?,
                 requireCompletionUpcall: Bool = true) throws(WSAError) {
        let major = version & 0xFF, minor = version >> 8
        guard major > 2 || (major == 2 && minor >= 2) else { throw WSAError(WSAVERNOTSUPPORTED) }
        guard let table else { throw .fault }
        let upcalls = Upcalls(table)
        guard upcalls.isUsable(requireCompletionUpcall) else { throw .fault }
        try started.withLock { (s: inout Started) throws(WSAError) in
            if s.refCount == 0 {
                // The progress engine starts with the provider and stops at the last cleanup.
                s.transports = try Transports(config: SoftConfig.fromEnvironment())
                s.upcalls = upcalls
                s.served = ServedAddresses.fromEnvironment()
            }
            s.refCount += 1
        }
    }

    /// WSPCleanup: only the last call tears down; open sockets are closed as by WSPCloseSocket.
    func cleanup() throws(WSAError) {
        let last = try started.withLock { (s: inout Started) throws(WSAError) -> Transports?? in
            guard s.refCount > 0 else { throw .notInitialised }
            s.refCount -= 1
            guard s.refCount == 0 else { return nil }
            s.upcalls = nil
            defer { s.transports = nil }
            return .some(s.transports)
        }
        guard let last else { return }
        for (descriptor, socket) in sockets.removeAll() {
            finishClose(socket, descriptor: descriptor)
        }
        // Work the closes queued on the engine still runs before it stops.
        last?.shutdown()
    }

    /// The upcalls and configuration, or WSANOTINITIALISED.
    func context() throws(WSAError) -> (Upcalls, ServedAddresses) {
        try started.withLock { (s: inout Started) throws(WSAError) -> (Upcalls, ServedAddresses) in
            guard s.refCount > 0, let upcalls = s.upcalls else { throw .notInitialised }
            return (upcalls, s.served)
        }
    }

    /// The started provider's transports.
    func transports() throws(WSAError) -> Transports {
        guard let t = started.withLock({ $0.transports }) else { throw .notInitialised }
        return t
    }

    /// Served host addresses of `family`: the configured filter, then what the transports
    /// serve (all of them, except in verbs-only mode).
    func servedAddresses(family: Int32) throws(WSAError) -> [SocketAddress] {
        let (_, served) = try context()
        let transports = try self.transports()
        return served.current(family: family).filter { transports.serves($0) }
    }

    func serves(_ address: SocketAddress) throws(WSAError) -> Bool {
        try servedAddresses(family: address.family).contains(address.host)
    }

    var isStarted: Bool { started.withLock { $0.refCount > 0 } }

    /// The socket for a descriptor the switch passed in. Closed, unknown and forged descriptors
    /// are WSAENOTSOCK; before startup everything is WSANOTINITIALISED.
    func socket(_ descriptor: SOCKET) throws(WSAError) -> ProviderSocket {
        if let socket = sockets.lookup(UInt64(descriptor)) { return socket }
        throw isStarted ? .notSocket : .notInitialised
    }

    /// Releases what a closed socket held: pending operations complete with
    /// WSA_OPERATION_ABORTED, registrations go, then the final WPUCloseSocketHandle.
    func finishClose(_ socket: ProviderSocket, descriptor: UInt64) {
        let aborted = socket.shutDownTransport()
        for op in aborted { socket.completeNow(op, error: WSA_OPERATION_ABORTED) }
        socket.releaseRegistrations()
        bindings.release(owner: descriptor)
        socket.requestFinalUpcall()
    }
}
