import Glibc
import WinSock

/// An outgoing connect in progress.
struct ConnectState: Sendable {
    var remote: SocketAddress
    var pending: PendingConnect?
    /// The switch's lpCalleeData (a WSABUF pointer, kept as bits): filled when the peer answers.
    var calleeBuffer: UInt
    var gate: Gate?   // set for a blocking connect
}

/// QoS policy: sanwsp does not advertise XP1_QOS_SUPPORTED, so it honours only flowspecs that
/// ask for nothing beyond best effort; anything else is WSAEOPNOTSUPP. lpGQOS is reserved and
/// ignored.
enum QoSPolicy {
    static func check(_ qos: UnsafePointer<QOS>?) throws(WSAError) {
        guard let qos else { return }
        let acceptable: Set<ULONG> = [
            ULONG(SERVICETYPE_NOTRAFFIC), ULONG(SERVICETYPE_BESTEFFORT),
            ULONG(SERVICETYPE_NOCHANGE), QOS_NOT_SPECIFIED,
        ]
        guard acceptable.contains(qos.pointee.SendingFlowspec.ServiceType),
              acceptable.contains(qos.pointee.ReceivingFlowspec.ServiceType),
              qos.pointee.ProviderSpecific.len == 0
        else { throw .opNotSupported }
    }
}

extension ProviderSocket: ConnectEvents, ConnectionEvents {
    /// WSPConnect. After WSPEventSelect it returns WSAEWOULDBLOCK and reports through
    /// FD_CONNECT; otherwise it blocks until the attempt ends.
    func connect(to remote: SocketAddress, callerData: [UInt8], calleeBuffer: LPWSABUF?,
                 provider: Provider) throws(WSAError)
    {
        if remote.isWildcard || remote.port == 0 { throw .addressNotAvailable }
        let (local, gate) = try state.withLock {
            (s: inout State) throws(WSAError) -> (SocketAddress, Gate?) in
            switch s.phase {
            case .connecting: throw WSAError(WSAEALREADY)
            case .connected, .disconnected: throw WSAError(WSAEISCONN)
            case .listening, .created: throw .invalid
            case .bound: break
            }
            let gate = s.nonblocking ? nil : Gate()
            s.phase = .connecting
            s.connect = ConnectState(
                remote: remote, pending: nil, calleeBuffer: UInt(bitPattern: calleeBuffer),
                gate: gate)
            return (s.local!, gate)
        }
        func revert() {
            state.withLock { s in
                if s.phase == .connecting { s.phase = .bound }
                s.connect = nil
            }
        }
        // The local address must still be one the provider serves (interfaces come and go).
        let pending: PendingConnect
        do throws(WSAError) {
            if !local.isWildcard {
                guard try provider.serves(local) else { throw WSAError.addressNotAvailable }
            }
            let transport = try provider.transports().transport(for: local)
            state.withLock {
                $0.transportKind = transport.kind
                $0.limits = .of(transport.kind)
            }
            pending = try transport.connect(
                from: local, to: remote, callerData: callerData, events: self,
                connectionEvents: self)
        } catch {
            revert()
            throw error
        }
        let stillPending = state.withLock { s -> Bool in
            guard s.phase == .connecting, s.connect != nil else { return false }
            s.connect!.pending = pending
            return true
        }
        if !stillPending && state.withLock({ $0.closed }) { pending.abort() }
        // Nonblocking: even an attempt that already ended reports through FD_CONNECT.
        guard let gate else { throw WSAError(WSAEWOULDBLOCK) }
        let result = gate.wait()
        if result != 0 { throw WSAError(result) }
    }

    // Progress-engine thread.
    func connected(_ connection: TransportConnection, calleeData: [UInt8]) {
        let keep = state.withLock { s -> Bool in
            guard s.phase == .connecting, !s.closed, let attempt = s.connect else { return false }
            s.connect = nil
            // Hand the peer's callee data to the switch's buffer; too small → WSAEFAULT.
            if let buffer = UnsafeMutablePointer<WSABUF>(bitPattern: attempt.calleeBuffer) {
                if calleeData.count > Int(buffer.pointee.len)
                    || (!calleeData.isEmpty && buffer.pointee.buf == nil)
                {
                    s.phase = .bound
                    record(&s, bit: Int32(FD_CONNECT_BIT), error: WSAEFAULT)
                    attempt.gate?.open(WSAEFAULT)
                    return false
                }
                if !calleeData.isEmpty {
                    calleeData.withUnsafeBytes {
                        UnsafeMutableRawPointer(buffer.pointee.buf!).copyMemory(
                            from: $0.baseAddress!, byteCount: $0.count)
                    }
                }
                buffer.pointee.len = ULONG(calleeData.count)
            }
            s.phase = .connected
            s.peer = attempt.remote
            s.connection = connection
            s.connectedSince = Syscall.monotonicNanoseconds()
            record(&s, bit: Int32(FD_CONNECT_BIT), error: 0)
            attempt.gate?.open(0)
            return true
        }
        if !keep { _ = connection.close() }
    }

    func connectFailed(error: Int32) {
        state.withLock { s in
            guard s.phase == .connecting, !s.closed, let attempt = s.connect else { return }
            s.connect = nil
            s.phase = .bound   // a failed connect may be retried on the same socket
            record(&s, bit: Int32(FD_CONNECT_BIT), error: error)
            attempt.gate?.open(error)
        }
    }

    func connectionLost(error: Int32) {
        state.withLock { s in
            guard s.phase == .connected else { return }
            // The connection object stays until WSPCloseSocket: it answers later calls with
            // the stored error and still knows the registrations.
            s.phase = .disconnected(error: error)
            s.pendingError = error
        }
    }

    /// WSPCloseSocket: stop whatever the socket has going; returns the transfers to abort.
    func shutDownTransport() -> [TransferOp] {
        let (pending, gate, connection, listeners) = state.withLock {
            s -> (PendingConnect?, Gate?, TransportConnection?, [TransportListener]) in
            s.closed = true
            defer { s.connect = nil; s.connection = nil; s.listener = nil }
            return (s.connect?.pending, s.connect?.gate, s.connection, s.listener?.transports ?? [])
        }
        pending?.abort()
        gate?.open(WSAECONNABORTED)
        listeners.forEach { $0.close() }
        return connection?.close() ?? []
    }
}
