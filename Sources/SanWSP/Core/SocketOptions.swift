import WinSock

/// Options a switch may set on a SAN socket (it replays the application's options after
/// WSPSocket). Values are kept per socket and reported back; an accepted socket inherits its
/// listener's. Options with transport meaning (keepalive, no-delay) take effect in the transport.
struct SocketOptions: Sendable {
    var debug = false
    var keepAlive = false
    var reuseAddress = false
    var oobInline = false
    var conditionalAccept = false
    var noDelay = false
    var sendBuffer: Int32 = 65536
    var receiveBuffer: Int32 = 65536
    var lingerOn: UInt16 = 0
    var lingerSeconds: UInt16 = 0
    var sendTimeout: DWORD = 0
    var receiveTimeout: DWORD = 0
    var groupPriority: Int32 = 0
    /// nil: the connection's transport decides (TransportLimits).
    var rdmaThreshold: DWORD?
}

/// What WSPGetSockOpt needs to know about the socket besides its options.
struct SocketFacts {
    var isListening: Bool
    var pendingError: Int32
    var transport: TransportKind?
    var connectedSince: UInt64?   // monotonic ns
    var limits: TransportLimits
    var protocolInfo: WSAPROTOCOL_INFOW
}

/// One place that knows every option: its level, name, width and whether it can be set.
enum SocketOption {
    case bool(WritableKeyPath<SocketOptions, Bool>)
    case int32(WritableKeyPath<SocketOptions, Int32>, allowsNegative: Bool)
    case dword(WritableKeyPath<SocketOptions, DWORD>)
    case linger
    case threshold
    case readOnly(size: Int, (SocketFacts, UnsafeMutableRawPointer) -> Void)

    static func lookup(level: Int32, name: Int32) throws(WSAError) -> SocketOption {
        switch level {
        case WS_SOL_SOCKET:
            switch name {
            case WS_SO_DEBUG: return .bool(\.debug)
            case WS_SO_KEEPALIVE: return .bool(\.keepAlive)
            case WS_SO_REUSEADDR: return .bool(\.reuseAddress)
            case WS_SO_OOBINLINE: return .bool(\.oobInline)
            case WS_SO_CONDITIONAL_ACCEPT: return .bool(\.conditionalAccept)
            case WS_SO_SNDBUF: return .int32(\.sendBuffer, allowsNegative: false)
            case WS_SO_RCVBUF: return .int32(\.receiveBuffer, allowsNegative: false)
            case WS_SO_GROUP_PRIORITY: return .int32(\.groupPriority, allowsNegative: true)
            case WS_SO_SNDTIMEO: return .dword(\.sendTimeout)
            case WS_SO_RCVTIMEO: return .dword(\.receiveTimeout)
            case WS_SO_RDMA_THRESHOLD_SIZE: return .threshold
            case WS_SO_LINGER: return .linger
            case WS_SO_MAX_MSG_SIZE:
                return .readOnly(size: 4) { f, p in p.storeBytes(of: f.limits.maxMessageSize, as: DWORD.self) }
            case WS_SO_MAX_RDMA_SIZE:
                return .readOnly(size: 4) { f, p in p.storeBytes(of: f.limits.maxRdmaSize, as: DWORD.self) }
            case WS_SO_PROTOCOL_INFOW:
                return .readOnly(size: MemoryLayout<WSAPROTOCOL_INFOW>.size) { f, p in
                    p.storeBytes(of: f.protocolInfo, as: WSAPROTOCOL_INFOW.self)
                }
            case WS_SO_TYPE:
                return .readOnly(size: 4) { _, p in p.storeBytes(of: Int32(SOCK_STREAM.rawValue), as: Int32.self) }
            case WS_SO_ACCEPTCONN:
                return .readOnly(size: 4) { f, p in p.storeBytes(of: f.isListening ? 1 : 0, as: Int32.self) }
            case WS_SO_ERROR:
                return .readOnly(size: 4) { f, p in p.storeBytes(of: f.pendingError, as: Int32.self) }
            case SO_SANWSP_TRANSPORT:
                return .readOnly(size: 4) { f, p in p.storeBytes(of: f.transport?.rawValue ?? 0, as: UInt32.self) }
            case WS_SO_GROUP_ID:
                return .readOnly(size: 4) { _, p in p.storeBytes(of: GROUP(0), as: GROUP.self) }
            case WS_SO_CONNECT_TIME:
                return .readOnly(size: 4) { f, p in
                    var seconds: DWORD = 0xFFFF_FFFF
                    if let since = f.connectedSince {
                        let now = Syscall.monotonicNanoseconds()
                        seconds = DWORD((now > since ? now - since : 0) / 1_000_000_000)
                    }
                    p.storeBytes(of: seconds, as: DWORD.self)
                }
            default: throw .noProtocolOption
            }
        case Int32(IPPROTO_TCP):
            guard name == WS_TCP_NODELAY else { throw .noProtocolOption }
            return .bool(\.noDelay)
        default:
            throw .invalid
        }
    }

    var size: Int {
        switch self {
        case .bool, .int32, .dword, .linger, .threshold: 4
        case .readOnly(let size, _): size
        }
    }

    /// WSPGetSockOpt: short buffer → WSAEFAULT with the needed size in *optlen.
    func get(_ options: SocketOptions, _ facts: SocketFacts,
             _ optval: UnsafeMutableRawPointer?, _ optlen: UnsafeMutablePointer<Int32>?)
        throws(WSAError)
    {
        guard let optval, let optlen else { throw .fault }
        guard optlen.pointee >= Int32(size) else {
            optlen.pointee = Int32(size)
            throw .fault
        }
        switch self {
        case .bool(let key): optval.storeBytes(of: options[keyPath: key] ? 1 : 0, as: Int32.self)
        case .int32(let key, _): optval.storeBytes(of: options[keyPath: key], as: Int32.self)
        case .dword(let key): optval.storeBytes(of: options[keyPath: key], as: DWORD.self)
        case .linger:
            optval.storeBytes(of: options.lingerOn, as: UInt16.self)
            optval.storeBytes(of: options.lingerSeconds, toByteOffset: 2, as: UInt16.self)
        case .threshold:
            optval.storeBytes(of: options.rdmaThreshold ?? facts.limits.rdmaThreshold, as: DWORD.self)
        case .readOnly(_, let write): write(facts, optval)
        }
        optlen.pointee = Int32(size)
    }

    /// WSPSetSockOpt: read-only → WSAENOPROTOOPT; short → WSAEFAULT; bad value → WSAEINVAL.
    func set(_ options: inout SocketOptions, _ optval: UnsafeRawPointer?, _ optlen: Int32)
        throws(WSAError)
    {
        if case .readOnly = self { throw .noProtocolOption }
        guard let optval, optlen >= Int32(size) else { throw .fault }
        switch self {
        case .bool(let key): options[keyPath: key] = optval.loadUnaligned(as: Int32.self) != 0
        case .int32(let key, let allowsNegative):
            let value = optval.loadUnaligned(as: Int32.self)
            guard allowsNegative || value >= 0 else { throw .invalid }
            options[keyPath: key] = value
        case .dword(let key): options[keyPath: key] = optval.loadUnaligned(as: DWORD.self)
        case .threshold: options.rdmaThreshold = optval.loadUnaligned(as: DWORD.self)
        case .linger:
            options.lingerOn = optval.loadUnaligned(as: UInt16.self)
            options.lingerSeconds = optval.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        case .readOnly: throw .noProtocolOption
        }
    }
}
