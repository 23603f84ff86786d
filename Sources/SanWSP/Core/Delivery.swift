import Synchronization
import WinSock

/// Completion delivery and the final upcall.
///
/// Every completion is delivered between `reserveDelivery` (made by the transport while it still
/// holds the operation) and the end of `transferCompleted`. WSPCloseSocket aborts what is
/// pending, then sets `closeRequested`; whoever brings the count of deliveries in progress to
/// zero after that makes the one WPUCloseSocketHandle. So it is always the last upcall for the
/// socket, even when another thread is inside WPUCompleteOverlappedRequest for it, or the switch
/// closes the socket from inside that upcall. No lock is held during any upcall.
extension ProviderSocket {
    private static let closeRequested: UInt64 = 1 << 62
    private static let finalDone: UInt64 = 1 << 63
    private static let countMask: UInt64 = (1 << 62) - 1

    func reserveDelivery() -> Bool {
        var current = delivery.load(ordering: .relaxed)
        while true {
            if current & Self.finalDone != 0 { return false }
            let (exchanged, original) = delivery.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
    }

    func transferCompleted(_ op: TransferOp, error: Int32, bytes: Int) {
        let ov = UnsafeMutablePointer<WSAOVERLAPPED>(bitPattern: op.overlapped)!
        let reported = error == 0 ? bytes : (error == WSA_OPERATION_ABORTED ? 0 : bytes)
        Overlapped.finishFields(ov, error: error, bytes: reported, flags: op.flags)
        if Overlapped.wantsNoNotification(ov) {
            Overlapped.markDone(ov, error: error)
        } else {
            var err: Int32 = 0
            _ = upcalls.table.lpWPUCompleteOverlappedRequest?(
                switchHandle, ov, DWORD(bitPattern: error), DWORD(truncatingIfNeeded: reported), &err)
            // A switch without the upcall (plain WSPStartup) polls the structure instead.
            if upcalls.table.lpWPUCompleteOverlappedRequest == nil { Overlapped.markDone(ov, error: error) }
        }
        completions.notify()
        endDelivery()
    }

    private func endDelivery() {
        let after = delivery.subtract(1, ordering: .acquiringAndReleasing).newValue
        if after & Self.countMask == 0, after & Self.closeRequested != 0 { makeFinalUpcall() }
    }

    /// Called by WSPCloseSocket after pending operations were aborted.
    func requestFinalUpcall() {
        let after = delivery.bitwiseOr(Self.closeRequested, ordering: .acquiringAndReleasing).newValue
        if after & Self.countMask == 0 { makeFinalUpcall() }
    }

    private func makeFinalUpcall() {
        var current = delivery.load(ordering: .acquiring)
        while current & Self.finalDone == 0 {
            let (exchanged, original) = delivery.compareExchange(
                expected: current, desired: current | Self.finalDone, ordering: .acquiringAndReleasing)
            if exchanged {
                let handle = state.withLock { s -> SOCKET in
                    defer { s.switchHandle = .invalid }
                    return s.switchHandle
                }
                if handle != .invalid { upcalls.closeSocketHandle(handle) }
                return
            }
            current = original
        }
    }

    /// Delivers an operation the transport never took or gave back (close): reserve + deliver.
    func completeNow(_ op: TransferOp, error: Int32, bytes: Int = 0) {
        guard reserveDelivery() else { return }
        transferCompleted(op, error: error, bytes: bytes)
    }
}
