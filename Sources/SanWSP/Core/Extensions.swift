import WinSock

/// The SAN extension functions a switch fetches with SIO_GET_EXTENSION_FUNCTION_POINTER.
enum ExtensionFunction: CaseIterable {
    case registerMemory, deregisterMemory, registerRdmaMemory, deregisterRdmaMemory
    case rdmaWrite, rdmaRead, memoryRegistrationCacheCallback

    /// The GUID's 16 in-memory bytes (Data1..3 little-endian, Data4 as is).
    var guidBytes: [UInt8] {
        let tail: [UInt8] = [0x8C, 0xF5, 0xD1, 0x11, 0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D]
        switch self {
        case .registerMemory: return [0xF5, 0x22, 0xB4, 0xC0] + tail
        case .deregisterMemory: return [0xF6, 0x22, 0xB4, 0xC0] + tail
        case .registerRdmaMemory: return [0xF7, 0x22, 0xB4, 0xC0] + tail
        case .deregisterRdmaMemory: return [0xF8, 0x22, 0xB4, 0xC0] + tail
        case .rdmaWrite: return [0xF9, 0x22, 0xB4, 0xC0] + tail
        case .rdmaRead: return [0xFA, 0x22, 0xB4, 0xC0] + tail
        case .memoryRegistrationCacheCallback:
            return [0xF8, 0x4A, 0xDA, 0xE5, 0x24, 0xD8, 0xCD, 0x48,
                    0xA7, 0x99, 0x63, 0x37, 0xA9, 0x8E, 0xD2, 0xAF]
        }
    }

    init?(guid: UnsafeRawPointer) {
        let bytes = Array(UnsafeRawBufferPointer(start: guid, count: 16))
        guard let match = Self.allCases.first(where: { $0.guidBytes == bytes }) else { return nil }
        self = match
    }
}
