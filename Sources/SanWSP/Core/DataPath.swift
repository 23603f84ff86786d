import Glibc
import WinSock

/// The data path of a connected socket: memory registration, overlapped send/receive, RDMA.
extension ProviderSocket {
    /// The connection for a data-path call: WSAENOTCONN before one exists, the stored error
    /// after it was lost.
    func liveConnection() throws(WSAError) -> (TransportConnection, TransportLimits) {
        try state.withLock { (s: inout State) throws(WSAError) -> (TransportConnection, TransportLimits) in
            switch s.phase {
            case .connected: return (s.connection!, s.limits)
            case .disconnected(let error): throw WSAError(error)
            default: throw .notConnected
            }
        }
    }

    // MARK: WSPRegisterMemory / WSPDeregisterMemory

    func registerMemory(_ buffer: UnsafeMutableRawPointer?, length: DWORD, flags: DWORD,
                        descriptor: UInt64, cache: RegistrationCache) throws(WSAError) -> HANDLE
    {
        let access = try MemoryAccess(flags: flags)
        let (connection, _) = try liveConnection()
        guard let buffer, length > 0 else { throw .fault }
        let base = UInt(bitPattern: buffer)
        try Self.checkAccessible(base: base, length: Int(length), access: access, cache: cache)
        // Lock order: socket state, then the transport's own locks (it never takes ours).
        return try state.withLock { (s: inout State) throws(WSAError) -> HANDLE in
            if let same = s.registrations.first(where: {
                $0.base == base && $0.length == Int(length) && $0.access == access
            }) {
                same.references.withLock { $0 += 1 }
                return LocalRegistrations.handle(for: same.handle.withLock { $0 })
            }
            let registration = LocalRegistration(
                owner: descriptor, base: base, length: Int(length), access: access)
            try connection.registerLocal(base: base, length: Int(length), access: access)
            guard let id = LocalRegistrations.table.insert(registration) else {
                connection.deregisterLocal(base: base, length: Int(length), access: access)
                throw .noBuffers
            }
            registration.handle.withLock { $0 = id }
            s.registrations.append(registration)
            return LocalRegistrations.handle(for: id)
        }
    }

    static func checkAccessible(base: UInt, length: Int, access: MemoryAccess,
                                cache: RegistrationCache) throws(WSAError) {
        let needsWrite = access.contains(.write)
        if cache.isKnownAccessible(base: base, length: length, needsWrite: needsWrite) { return }
        guard MemoryCheck.isAccessible(base: base, length: length, needsWrite: needsWrite) else {
            throw .fault
        }
        cache.remember(base: base, length: length, writable: needsWrite)
    }

    func deregisterMemory(_ handle: HANDLE?, descriptor: UInt64) throws(WSAError) {
        guard let registration = LocalRegistrations.lookup(handle),
              registration.owner == descriptor else { throw .invalid }
        let connection = state.withLock { $0.connection }
        let last = registration.references.withLock { $0 == 1 }
        if last, connection?.isUsing(base: registration.base, length: registration.length) == true {
            throw .invalid   // an operation in flight still uses it
        }
        let released = registration.references.withLock { refs -> Bool in
            refs -= 1
            return refs == 0
        }
        guard released else { return }
        state.withLock { s in s.registrations.removeAll { $0 === registration } }
        _ = LocalRegistrations.table.remove(registration.handle.withLock { $0 })
        connection?.deregisterLocal(
            base: registration.base, length: registration.length, access: registration.access)
    }

    /// WSPCloseSocket: the socket's registrations end with it.
    func releaseRegistrations() {
        let all = state.withLock { s -> [LocalRegistration] in
            defer { s.registrations = [] }
            return s.registrations
        }
        for r in all { _ = LocalRegistrations.table.remove(r.handle.withLock { $0 }) }
    }

    /// Checks that each local buffer lies inside one of this socket's registrations allowing
    /// `access`: the provider only touches memory the switch registered.
    func checkRegistered(_ op: TransferOp, handles: UnsafePointer<WSABUFEX>?, access: MemoryAccess)
        throws(WSAError)
    {
        let ok = state.withLock { s -> Bool in
            for i in 0..<op.count {
                let (address, size) = op.buffer(i)
                if size == 0 { continue }
                if let handles {
                    let handle = handles[i].handle
                    guard let r = LocalRegistrations.lookup(handle), r.owner == s.descriptor,
                          r.access.contains(access), r.contains(address, size) else { return false }
                } else {
                    guard s.registrations.contains(where: {
                        $0.access.contains(access) && $0.contains(address, size)
                    }) else { return false }
                }
            }
            return true
        }
        if !ok { throw .fault }
    }

    // MARK: WSPRegisterRdmaMemory / WSPDeregisterRdmaMemory

    func registerRdmaMemory(_ buffer: UnsafeMutableRawPointer?, length: DWORD, flags: DWORD,
                            descriptor out: UnsafeMutableRawPointer?,
                            descriptorLength: UnsafeMutablePointer<DWORD>?,
                            cache: RegistrationCache) throws(WSAError)
    {
        guard let descriptorLength else { throw .fault }
        // A short descriptor buffer is the switch asking how long descriptors are.
        guard let out, descriptorLength.pointee >= DWORD(RdmaDescriptor.size) else {
            descriptorLength.pointee = DWORD(RdmaDescriptor.size)
            throw .fault
        }
        let access = try MemoryAccess(flags: flags)
        let (connection, _) = try liveConnection()
        guard let buffer, length > 0 else { throw .fault }
        let base = UInt(bitPattern: buffer)
        try Self.checkAccessible(base: base, length: Int(length), access: access, cache: cache)
        let region = try connection.expose(base: base, length: Int(length), access: access)
        RdmaDescriptor.encode(region, into: out)
        descriptorLength.pointee = DWORD(RdmaDescriptor.size)
    }

    func deregisterRdmaMemory(_ descriptor: UnsafeRawPointer?, length: DWORD) throws(WSAError) {
        let region = try RdmaDescriptor.decode(descriptor, length: length)
        guard let connection = state.withLock({ $0.connection }) else { throw .invalid }
        try connection.revoke(region)
    }

    // MARK: WSPSend / WSPRecv / WSPRdmaWrite / WSPRdmaRead

    /// Validates and starts one overlapped transfer; it completes through `transferCompleted`.
    func startTransfer(_ op: TransferOp, handles: UnsafePointer<WSABUFEX>? = nil,
                       remote: (UnsafeRawPointer?, DWORD, DWORD)? = nil) throws(WSAError)
    {
        guard let ov = UnsafeMutablePointer<WSAOVERLAPPED>(bitPattern: op.overlapped) else {
            throw .invalid
        }
        let (connection, limits) = try liveConnection()
        let needs: MemoryAccess = (op.kind == .send || op.kind == .rdmaWrite) ? .read : .write
        try checkRegistered(op, handles: handles, access: needs)
        let limit = (op.kind == .send || op.kind == .receive) ? limits.maxMessageSize : limits.maxRdmaSize
        guard op.total <= Int(limit) else { throw WSAError(WSAEMSGSIZE) }
        var region: RemoteRegion?
        if let remote { region = try RdmaDescriptor.decode(remote.0, length: remote.1) }
        Overlapped.start(ov, flags: op.flags, total: op.kind == .receive ? 0 : op.total)
        switch op.kind {
        case .send: try connection.send(op)
        case .receive: try connection.receive(op)
        case .rdmaWrite: try connection.rdmaWrite(op, to: region!, offset: remote!.2)
        case .rdmaRead: try connection.rdmaRead(op, from: region!, offset: remote!.2)
        }
    }

    /// More buffers than this in one call is WSAEINVAL (the kernel's IOV_MAX, less a header).
    static let maximumBuffers = 1000

    // MARK: WSPGetOverlappedResult

    func overlappedResult(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, wait: Bool)
        throws(WSAError) -> (bytes: DWORD, flags: DWORD)
    {
        if Overlapped.isPending(ov) {
            guard wait else { throw WSAError(WSA_IO_INCOMPLETE) }
            let connection = state.withLock { $0.connection }
            if connection?.driveProgress(until: { !Overlapped.isPending(ov) }) != true {
                completions.wait { !Overlapped.isPending(ov) }
            }
        }
        let error = Int32(bitPattern: ov.pointee.OffsetHigh)
        let bytes = DWORD(truncatingIfNeeded: ov.pointee.InternalHigh)
        if error != 0 { throw WSAError(error) }
        return (bytes, ov.pointee.Offset)
    }
}
