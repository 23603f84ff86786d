import Glibc
import WinSock

/// WSPSocket / WSPCloseSocket / WSPBind and the name queries.
extension Provider {
    func createSocket(family: Int32, type: Int32, protocol proto: Int32,
                      protocolInfo: WSAPROTOCOL_INFOW?, group: GROUP, flags: DWORD)
        throws(WSAError) -> SOCKET
    {
        let (upcalls, _) = try context()
        guard family == AF_INET || family == AF_INET6 else { throw WSAError(WSAEAFNOSUPPORT) }
        guard type == Int32(SOCK_STREAM.rawValue) else { throw WSAError(WSAESOCKTNOSUPPORT) }
        if proto == Int32(IPPROTO_UDP) { throw WSAError(WSAEPROTOTYPE) }
        guard proto == Int32(IPPROTO_TCP) || proto == 0 else { throw WSAError(WSAEPROTONOSUPPORT) }
        guard group == 0 else { throw .invalid }
        let allowed = DWORD(WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT)
        guard flags & DWORD(WSA_FLAG_OVERLAPPED) != 0, flags & ~allowed == 0 else { throw .invalid }
        // Duplicated sockets (dwProviderReserved != 0) are not supported yet.
        guard (protocolInfo?.dwProviderReserved ?? 0) == 0 else { throw .invalid }

        let socket = ProviderSocket(
            family: family, catalogEntryId: protocolInfo?.dwCatalogEntryId ?? 0, upcalls: upcalls)
        guard let descriptor = sockets.insert(socket) else { throw .tooManySockets }
        do {
            let handle = try upcalls.createSocketHandle(
                catalogEntryId: socket.catalogEntryId, context: DWORD_PTR(descriptor))
            socket.state.withLock { $0.switchHandle = handle; $0.descriptor = descriptor }
        } catch {
            _ = sockets.remove(descriptor)
            throw error
        }
        return SOCKET(descriptor)
    }

    /// Removes the descriptor first, so every later call sees WSAENOTSOCK, then releases the
    /// socket and makes WPUCloseSocketHandle the last upcall.
    func closeSocket(_ descriptor: SOCKET) throws(WSAError) {
        guard let socket = sockets.remove(UInt64(descriptor)) else {
            throw isStarted ? .notSocket : .notInitialised
        }
        finishClose(socket, descriptor: UInt64(descriptor))
    }

    func bind(_ descriptor: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32)
        throws(WSAError)
    {
        let socket = try self.socket(descriptor)
        let address = try SocketAddress(reading: name, length: namelen, expectedFamily: socket.family)
        if !address.isWildcard {
            guard try serves(address) else { throw .addressNotAvailable }
        }
        // Lock order: socket state, then the bind table (which never takes socket locks).
        try socket.state.withLock { (s: inout ProviderSocket.State) throws(WSAError) in
            guard s.phase == .created else { throw .invalid }
            s.local = try bindings.reserve(
                address, owner: UInt64(descriptor), reuse: s.options.reuseAddress)
            s.phase = .bound
        }
    }

    func localName(_ descriptor: SOCKET) throws(WSAError) -> SocketAddress {
        let socket = try self.socket(descriptor)
        guard let local = socket.state.withLock({ $0.local }) else { throw .invalid }
        return local
    }

    func peerName(_ descriptor: SOCKET) throws(WSAError) -> SocketAddress {
        let socket = try self.socket(descriptor)
        guard let peer = socket.state.withLock({ $0.peer }) else { throw .notConnected }
        return peer
    }

    func getOption(_ descriptor: SOCKET, level: Int32, name: Int32,
                   _ optval: UnsafeMutableRawPointer?, _ optlen: UnsafeMutablePointer<Int32>?)
        throws(WSAError)
    {
        let socket = try self.socket(descriptor)
        let option = try SocketOption.lookup(level: level, name: name)
        let (options, facts) = socket.state.withLock { ($0.options, socket.facts($0)) }
        try option.get(options, facts, optval, optlen)
    }

    func setOption(_ descriptor: SOCKET, level: Int32, name: Int32,
                   _ optval: UnsafeRawPointer?, _ optlen: Int32) throws(WSAError)
    {
        let socket = try self.socket(descriptor)
        let option = try SocketOption.lookup(level: level, name: name)
        try socket.state.withLock { (s: inout ProviderSocket.State) throws(WSAError) in
            try option.set(&s.options, optval, optlen)
        }
    }
}
