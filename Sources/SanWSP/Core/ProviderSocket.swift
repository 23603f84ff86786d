import Synchronization
import WinSock

/// Where a socket is in its life (spec Appendix A). One type, explicit transitions.
enum SocketPhase: Sendable, Equatable {
    case created
    case bound
    case listening
    case connecting
    case connected
    case disconnected(error: Int32)   // terminal; later calls fail with the stored error
}

/// The provider's private socket. Its descriptor is the handle-table key; the switch's own
/// handle (from WPUCreateSocketHandle) is kept for upcalls.
final class ProviderSocket: Sendable {
    let family: Int32
    let catalogEntryId: DWORD
    let upcalls: Upcalls

    struct State: Sendable {
        var phase: SocketPhase = .created
        var descriptor: UInt64 = 0   // this socket's own descriptor (handle-table key)
        var switchHandle: SOCKET = .invalid
        var local: SocketAddress?
        var peer: SocketAddress?
        var options = SocketOptions()
        var pendingError: Int32 = 0
        var connectedSince: UInt64?
        var limits = TransportLimits.soft
        var transportKind: TransportKind?
        var closed = false

        // WSPEventSelect / WSPEnumNetworkEvents
        var selectedEvent: UInt = 0          // WSAEVENT bits (0 = none)
        var selectedMask: Int32 = 0
        var nonblocking = false
        var recorded = NetworkEventRecord()

        // Connection management
        var listener: ListenState?
        var connect: ConnectState?
        var connection: TransportConnection?

        // WSPRegisterMemory registrations of this socket (the switch keeps a few per connection).
        var registrations: [LocalRegistration] = []
    }
    let state = Mutex(State())

    /// Completion deliveries in progress, plus the close flags (see Delivery.swift).
    let delivery = Atomic<UInt64>(0)
    let completions = CompletionSignal()

    init(family: Int32, catalogEntryId: DWORD, upcalls: Upcalls) {
        self.family = family
        self.catalogEntryId = catalogEntryId
        self.upcalls = upcalls
    }

    var switchHandle: SOCKET { state.withLock { $0.switchHandle } }

    func facts(_ s: State) -> SocketFacts {
        SocketFacts(
            isListening: s.phase == .listening, pendingError: s.pendingError,
            transport: s.transportKind,
            connectedSince: s.connectedSince, limits: s.limits,
            protocolInfo: ProviderIdentity.protocolInfo(family: family, catalogEntryId: catalogEntryId))
    }
}
