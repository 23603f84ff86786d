import WinSock

/// What the provider says about itself: WSAPROTOCOL_INFOW, WSPDATA's description, limits.
enum ProviderIdentity {
    /// sanwsp's provider GUID {5A4E5753-5350-4E57-9A1D-53414E575350}.
    static let providerId = GUID(
        Data1: 0x5A4E_5753, Data2: 0x5350, Data3: 0x4E57,
        Data4: (0x9A, 0x1D, 0x53, 0x41, 0x4E, 0x57, 0x53, 0x50))

    static let description = "sanwsp Windows Sockets Direct SAN provider"
    static let protocolName = "sanwsp SAN stream"

    /// Reliable, ordered, message-oriented, graceful close, connect data. Not IFS handles
    /// (sockets come from WPUCreateSocketHandle). No XP1_QOS_SUPPORTED: flowspecs are refused.
    static let serviceFlags: DWORD = DWORD(
        XP1_GUARANTEED_DELIVERY | XP1_GUARANTEED_ORDER | XP1_MESSAGE_ORIENTED
            | XP1_GRACEFUL_CLOSE | XP1_CONNECT_DATA)

    static func protocolInfo(family: Int32, catalogEntryId: DWORD) -> WSAPROTOCOL_INFOW {
        var info = WSAPROTOCOL_INFOW()
        info.dwServiceFlags1 = serviceFlags
        info.dwProviderFlags = DWORD(PFL_HIDDEN)
        info.ProviderId = providerId
        info.dwCatalogEntryId = catalogEntryId
        info.ProtocolChain.ChainLen = 1
        info.iVersion = 2
        info.iAddressFamily = family
        let sockaddrLength = Int32(SocketAddress.length(of: family))
        info.iMaxSockAddr = sockaddrLength
        info.iMinSockAddr = sockaddrLength
        info.iSocketType = Int32(SOCK_STREAM.rawValue)
        info.iProtocol = Int32(IPPROTO_TCP)
        info.iNetworkByteOrder = BIGENDIAN
        info.iSecurityScheme = SECURITY_PROTOCOL_NONE
        info.dwMessageSize = TransportLimits.soft.maxMessageSize
        withUnsafeMutableBytes(of: &info.szProtocol) { writeUTF16(protocolName, into: $0) }
        return info
    }

    /// Writes `text` as NUL-terminated UTF-16 into a fixed WCHAR array, truncating if needed.
    static func writeUTF16(_ text: String, into raw: UnsafeMutableRawBufferPointer) {
        let units = raw.bindMemory(to: UInt16.self)
        var i = 0
        for unit in text.utf16 where i < units.count - 1 {
            units[i] = unit
            i += 1
        }
        for j in i..<units.count { units[j] = 0 }
    }
}

/// Per-transport limits reported through SO_MAX_MSG_SIZE / SO_MAX_RDMA_SIZE and the default of
/// SO_RDMA_THRESHOLD_SIZE.
struct TransportLimits: Sendable {
    let maxMessageSize: DWORD
    let maxRdmaSize: DWORD
    let rdmaThreshold: DWORD

    /// 2 GiB - 1: a frame length (u32) always holds a message or an RDMA payload plus its header.
    /// Over soft an RDMA transfer is a TCP stream write like a message but costs a round trip
    /// more (measured with sanperf through the reference switch), so the switch is steered to
    /// messages up to 1 MiB.
    static let soft = TransportLimits(
        maxMessageSize: 0x7FFF_FFFF, maxRdmaSize: 0x7FFF_FFFF, rdmaThreshold: 1 << 20)
    /// InfiniBand's 2 GiB message limit; RDMA pays off from a page up (the InfiniBand
    /// provider's default).
    static let verbs = TransportLimits(
        maxMessageSize: 0x7FFF_FFFF, maxRdmaSize: 0x7FFF_FFFF, rdmaThreshold: 4096)

    static func of(_ kind: TransportKind?) -> TransportLimits { kind == .verbs ? verbs : soft }
}
