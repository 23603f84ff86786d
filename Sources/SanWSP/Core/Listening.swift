import Glibc
import WinSock

/// A listening socket's transport listener and its queue of requests awaiting WSPAccept.
struct ListenState: Sendable {
    var transports: [TransportListener]
    var backlog: Int
    var queue: [IncomingRequest] = []

    /// SOMAXCONN (or anything larger) means this; every request beyond the backlog is refused
    /// at once, so the queue, and the memory it holds, is bounded by it.
    static let maximumBacklog = 200

    static func clamp(_ backlog: Int32) -> Int {
        min(max(Int(backlog), 1), maximumBacklog)
    }
}

extension ProviderSocket: ListenerEvents {
    func listen(backlog: Int32, provider: Provider) throws(WSAError) {
        let wanted = ListenState.clamp(backlog)
        enum Step { case start(SocketAddress), update([IncomingRequest]) }
        let step = try state.withLock { (s: inout State) throws(WSAError) -> Step in
            switch s.phase {
            case .bound:
                return .start(s.local!)
            case .listening:
                // A smaller backlog refuses the requests beyond it.
                s.listener!.backlog = wanted
                let excess = Array(s.listener!.queue.dropFirst(wanted))
                s.listener!.queue.removeLast(excess.count)
                return .update(excess)
            case .connected, .disconnected:
                throw WSAError(WSAEISCONN)
            case .created, .connecting:
                throw .invalid
            }
        }
        switch step {
        case .update(let excess):
            excess.forEach { $0.reject(.backlogFull) }
        case .start(let local):
            var listeners: [TransportListener] = []
            do throws(WSAError) {
                for transport in try provider.transports().listenTransports(for: local) {
                    listeners.append(try transport.listen(on: local, events: self))
                }
            } catch {
                listeners.forEach { $0.close() }
                throw error
            }
            let won = state.withLock { s -> Bool in
                guard s.phase == .bound, !s.closed else { return false }
                s.phase = .listening
                s.listener = ListenState(transports: listeners, backlog: wanted)
                return true
            }
            if !won {
                listeners.forEach { $0.close() }
                throw .invalid
            }
        }
    }

    // Progress-engine thread.
    func requestArrived(_ request: IncomingRequest) -> Bool {
        state.withLock { s in
            guard s.phase == .listening, !s.closed, var listener = s.listener,
                  listener.queue.count < listener.backlog else { return false }
            listener.queue.append(request)
            s.listener = listener
            record(&s, bit: Int32(FD_ACCEPT_BIT), error: 0)
            return true
        }
    }

    func requestWithdrawn(_ request: IncomingRequest) {
        state.withLock { s in
            s.listener?.queue.removeAll { $0 === request }
        }
    }

    /// WSPAccept. The condition function runs on the caller's thread, with no lock held.
    func accept(addr: UnsafeMutablePointer<sockaddr>?, addrlen: UnsafeMutablePointer<Int32>?,
                condition: LPCONDITIONPROC?, callbackData: DWORD_PTR, provider: Provider)
        throws(WSAError) -> SOCKET
    {
        let request = try state.withLock { (s: inout State) throws(WSAError) -> IncomingRequest in
            guard s.phase == .listening, var listener = s.listener else { throw .invalid }
            if addr != nil {
                guard let addrlen, addrlen.pointee >= Int32(SocketAddress.length(of: family))
                else { throw .fault }
            }
            guard !listener.queue.isEmpty else { throw WSAError(WSAEWOULDBLOCK) }
            let head = listener.queue.removeFirst()
            s.listener = listener
            return head
        }
        defer {
            // More requests waiting: keep FD_ACCEPT signalled.
            state.withLock { s in
                if let queue = s.listener?.queue, !queue.isEmpty, !s.closed {
                    record(&s, bit: Int32(FD_ACCEPT_BIT), error: 0)
                }
            }
        }
        var calleeData = [UInt8](repeating: 0, count: ConnectData.maximum)
        let verdict = condition.map { runCondition($0, request, &calleeData, callbackData) }
            ?? (CF_ACCEPT, 0)
        switch verdict.0 {
        case CF_ACCEPT:
            let accepted = try provider.acceptedSocket(
                from: self, request: request, calleeData: Array(calleeData.prefix(verdict.1)))
            if let addr, let addrlen { try? request.caller.copyOut(addr, addrlen) }
            return accepted
        case CF_REJECT:
            request.reject(.refused)
            throw WSAError(WSAECONNREFUSED)
        default:
            // CF_DEFER (or a value the condition function may not return): keep the request.
            state.withLock { s in s.listener?.queue.insert(request, at: 0) }
            if verdict.0 == CF_DEFER { throw WSAError(WSATRY_AGAIN) }
            throw .invalid
        }
    }

    /// Calls the switch's condition function with the caller's address and data, the local
    /// address, and a callee-data buffer of ConnectData.maximum bytes it may fill.
    private func runCondition(_ condition: LPCONDITIONPROC, _ request: IncomingRequest,
                              _ calleeData: inout [UInt8], _ callbackData: DWORD_PTR)
        -> (Int32, Int)
    {
        var callerName = [UInt8](repeating: 0, count: 28)
        var calleeName = [UInt8](repeating: 0, count: 28)
        callerName.withUnsafeMutableBytes { request.caller.write(to: $0.baseAddress!) }
        calleeName.withUnsafeMutableBytes { request.destination.write(to: $0.baseAddress!) }
        var callerData = request.callerData
        var group: GROUP = 0
        return callerName.withUnsafeMutableBytes { callerRaw in
            calleeName.withUnsafeMutableBytes { calleeRaw in
                callerData.withUnsafeMutableBytes { dataRaw in
                    calleeData.withUnsafeMutableBytes { outRaw in
                        var callerId = WSABUF(
                            len: ULONG(request.caller.length),
                            buf: callerRaw.baseAddress!.assumingMemoryBound(to: CChar.self))
                        var calleeId = WSABUF(
                            len: ULONG(request.destination.length),
                            buf: calleeRaw.baseAddress!.assumingMemoryBound(to: CChar.self))
                        var callerBuf = WSABUF(
                            len: ULONG(dataRaw.count),
                            buf: dataRaw.baseAddress?.assumingMemoryBound(to: CChar.self))
                        var calleeBuf = WSABUF(
                            len: ULONG(outRaw.count),
                            buf: outRaw.baseAddress!.assumingMemoryBound(to: CChar.self))
                        let verdict = withUnsafeMutablePointer(to: &callerBuf) { callerPtr in
                            condition(&callerId, dataRaw.isEmpty ? nil : callerPtr, nil, nil,
                                      &calleeId, &calleeBuf, &group, callbackData)
                        }
                        // The callee data length is what the condition function left in len.
                        return (verdict, min(Int(calleeBuf.len), outRaw.count))
                    }
                }
            }
        }
    }
}

extension Provider {
    /// CF_ACCEPT: the new socket (one WPUCreateSocketHandle) connected to the caller.
    func acceptedSocket(from listener: ProviderSocket, request: IncomingRequest,
                        calleeData: [UInt8]) throws(WSAError) -> SOCKET
    {
        let socket = ProviderSocket(
            family: listener.family, catalogEntryId: listener.catalogEntryId,
            upcalls: listener.upcalls)
        let inherited = listener.state.withLock { $0.options }
        socket.state.withLock { s in
            s.options = inherited
            s.phase = .connected
            s.local = request.destination
            s.peer = request.caller
            s.transportKind = request.kind
            s.limits = .of(request.kind)
            s.connectedSince = Syscall.monotonicNanoseconds()
        }
        guard let descriptor = sockets.insert(socket) else {
            request.reject(.backlogFull)
            throw .tooManySockets
        }
        do {
            let handle = try socket.upcalls.createSocketHandle(
                catalogEntryId: socket.catalogEntryId, context: DWORD_PTR(descriptor))
            socket.state.withLock { $0.switchHandle = handle; $0.descriptor = descriptor }
            let connection = try request.accept(calleeData: calleeData, events: socket)
            socket.state.withLock { $0.connection = connection }
        } catch {
            request.reject(.backlogFull)
            if let removed = sockets.remove(descriptor) { finishClose(removed, descriptor: descriptor) }
            throw error
        }
        return SOCKET(descriptor)
    }
}
