import WinSock

/// The switch's upcall table, copied at startup. Immutable, so sockets keep a reference and the
/// hot path reaches the switch without touching provider-wide state.
final class Upcalls: Sendable {
    let table: WSPUPCALLTABLEEX

    init(_ table: WSPUPCALLTABLEEX) { self.table = table }

    /// WSPStartupEx refuses a table without the three upcalls every socket needs.
    func isUsable(_ requireCompletionUpcall: Bool) -> Bool {
        table.lpWPUCreateSocketHandle != nil && table.lpWPUCloseSocketHandle != nil
            && (!requireCompletionUpcall || table.lpWPUCompleteOverlappedRequest != nil)
    }

    func createSocketHandle(catalogEntryId: DWORD, context: DWORD_PTR) throws(WSAError) -> SOCKET {
        guard let create = table.lpWPUCreateSocketHandle else { throw .noBuffers }
        var err: Int32 = 0
        let handle = create(catalogEntryId, context, &err)
        guard handle != SOCKET.invalid else { throw WSAError(err == 0 ? WSAENOBUFS : err) }
        return handle
    }

    func closeSocketHandle(_ handle: SOCKET) {
        var err: Int32 = 0
        _ = table.lpWPUCloseSocketHandle?(handle, &err)
    }

    /// Signals a switch event through WPUSetEvent (bit 0 masked, as for hEvent).
    func setEvent(_ event: WSAEVENT?) {
        guard let event = event?.maskedEventBit else { return }
        var err: Int32 = 0
        _ = table.lpWPUSetEvent?(event, &err)
    }

    func resetEvent(_ event: WSAEVENT?) {
        guard let event = event?.maskedEventBit else { return }
        var err: Int32 = 0
        _ = table.lpWPUResetEvent?(event, &err)
    }
}

extension SOCKET {
    /// INVALID_SOCKET: the header's `(SOCKET)~0` does not import into Swift.
    static var invalid: SOCKET { ~0 }
}

extension UnsafeMutableRawPointer {
    /// hEvent with bit 0 (the "no completion notification" flag) cleared; nil if nothing is left.
    var maskedEventBit: UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: self) & ~1)
    }
}
