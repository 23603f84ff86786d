import WinSock

/// Network events recorded for a socket until WSPEnumNetworkEvents collects them.
struct NetworkEventRecord: Sendable {
    var events: Int32 = 0
    var errors = [Int32](repeating: 0, count: Int(FD_MAX_EVENTS))

    mutating func record(bit: Int32, error: Int32) {
        events |= 1 << bit
        errors[Int(bit)] = error
    }
}

/// WSPEventSelect / WSPEnumNetworkEvents and the recording of FD_ACCEPT / FD_CONNECT.
///
/// Only FD_ACCEPT and FD_CONNECT are supported (the switch asks for nothing else, spec §1.8);
/// any other bit is WSAEINVAL. The switch's event is set and reset through its WPUSetEvent /
/// WPUResetEvent upcalls, made under the socket's lock so that a record and a collection can
/// never interleave and lose a signal (those upcalls must not call back into the provider).
extension ProviderSocket {
    static let supportedEvents = Int32(FD_ACCEPT | FD_CONNECT)

    /// Records an event and signals the selected event object if the mask asks for it.
    /// Call with the state locked.
    func record(_ s: inout State, bit: Int32, error: Int32) {
        s.recorded.record(bit: bit, error: error)
        if s.selectedMask & (1 << bit) != 0 {
            upcalls.setEvent(UnsafeMutableRawPointer(bitPattern: s.selectedEvent))
        }
    }

    func eventSelect(_ event: WSAEVENT?, mask: Int32) throws(WSAError) {
        guard mask & ~Self.supportedEvents == 0 else { throw .invalid }
        guard mask == 0 || event != nil else { throw .invalid }
        state.withLock { s in
            s.selectedEvent = UInt(bitPattern: event)
            s.selectedMask = mask
            s.nonblocking = true
            // An event that happened before the selection is signalled at once.
            if s.recorded.events & mask != 0 { upcalls.setEvent(event) }
        }
    }

    func enumNetworkEvents(_ event: WSAEVENT?, into out: LPWSANETWORKEVENTS?) throws(WSAError) {
        guard let out else { throw .fault }
        state.withLock { s in
            out.pointee.lNetworkEvents = s.recorded.events
            withUnsafeMutableBytes(of: &out.pointee.iErrorCode) { raw in
                let codes = raw.bindMemory(to: Int32.self)
                for bit in 0..<Int(FD_MAX_EVENTS) where s.recorded.events & (1 << bit) != 0 {
                    codes[bit] = s.recorded.errors[bit]
                }
            }
            s.recorded.events = 0
            if let event { upcalls.resetEvent(event) }
        }
    }
}
