import WinSock

/// The soft transport's frames (docs/WIRE.md). All integers are big-endian.
///
///     header:  u8 type, u8 flags, u16 reserved (0), u32 payload length
enum SoftWire {
    static let headerSize = 8
    static let magic: UInt32 = 0x5357_5344   // "SWSD"
    static let version: UInt16 = 1

    enum FrameType: UInt8 {
        case hello = 1, accept = 2, reject = 3, disconnect = 4
    }

    struct Header: Equatable {
        var type: UInt8
        var flags: UInt8
        var length: UInt32
    }

    /// HELLO's fixed part: magic, version, target port, family, data length, caller port,
    /// caller address (16 bytes).
    static let helloFixedSize = 28
    static let helloMaximum = helloFixedSize + ConnectData.maximum
    static let acceptFixedSize = 4
    static let acceptMaximum = acceptFixedSize + ConnectData.maximum

    struct Hello: Equatable {
        var targetPort: UInt16
        var caller: SocketAddress
        var callerData: [UInt8]
    }

    static func encodeHeader(_ type: FrameType, length: Int, into out: inout [UInt8]) {
        out.append(type.rawValue)
        out.append(0)
        out.append(contentsOf: [0, 0])
        appendU32(UInt32(length), to: &out)
    }

    static func decodeHeader(_ bytes: ArraySlice<UInt8>) -> Header? {
        guard bytes.count >= headerSize else { return nil }
        let b = bytes.startIndex
        guard bytes[b + 2] == 0, bytes[b + 3] == 0 else { return nil }
        return Header(type: bytes[b], flags: bytes[b + 1], length: readU32(bytes, b + 4))
    }

    static func encodeHello(_ hello: Hello) -> [UInt8] {
        var out: [UInt8] = []
        encodeHeader(.hello, length: helloFixedSize + hello.callerData.count, into: &out)
        appendU32(magic, to: &out)
        appendU16(version, to: &out)
        appendU16(hello.targetPort, to: &out)
        var address = [UInt8](repeating: 0, count: 16)
        let family: UInt8
        switch hello.caller.storage {
        case .v4(let a, _):
            family = 4
            withUnsafeBytes(of: a) { for i in 0..<4 { address[i] = $0[i] } }
        case .v6(let a, _, _):
            family = 6
            address = a
        }
        out.append(family)
        out.append(UInt8(hello.callerData.count))
        appendU16(hello.caller.port, to: &out)
        out.append(contentsOf: address)
        out.append(contentsOf: hello.callerData)
        return out
    }

    enum HelloError: Error { case malformed, badVersion }

    static func decodeHello(_ payload: ArraySlice<UInt8>) throws(HelloError) -> Hello {
        guard payload.count >= helloFixedSize else { throw .malformed }
        let b = payload.startIndex
        guard readU32(payload, b) == magic else { throw .malformed }
        guard readU16(payload, b + 4) == version else { throw .badVersion }
        let target = readU16(payload, b + 6)
        let family = payload[b + 8]
        let dataLength = Int(payload[b + 9])
        guard dataLength <= ConnectData.maximum, payload.count == helloFixedSize + dataLength
        else { throw .malformed }
        let port = readU16(payload, b + 10)
        let address = Array(payload[(b + 12)..<(b + 28)])
        let caller: SocketAddress
        switch family {
        case 4:
            let a = address.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            caller = SocketAddress(storage: .v4(address: a, port: port.bigEndian))
        case 6:
            caller = SocketAddress(storage: .v6(address: address, port: port.bigEndian, scope: 0))
        default:
            throw .malformed
        }
        return Hello(targetPort: target, caller: caller,
                     callerData: Array(payload[(b + 28)...]))
    }

    static func encodeAccept(calleeData: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        encodeHeader(.accept, length: acceptFixedSize + calleeData.count, into: &out)
        appendU16(version, to: &out)
        out.append(UInt8(calleeData.count))
        out.append(0)
        out.append(contentsOf: calleeData)
        return out
    }

    static func decodeAccept(_ payload: ArraySlice<UInt8>) -> [UInt8]? {
        guard payload.count >= acceptFixedSize else { return nil }
        let b = payload.startIndex
        let length = Int(payload[b + 2])
        guard readU16(payload, b) == version, length <= ConnectData.maximum,
              payload.count == acceptFixedSize + length else { return nil }
        return Array(payload[(b + 4)...])
    }

    static func encodeReason(_ type: FrameType, _ reason: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        encodeHeader(type, length: 4, into: &out)
        appendU32(reason, to: &out)
        return out
    }

    static func decodeReason(_ payload: ArraySlice<UInt8>) -> UInt32? {
        payload.count == 4 ? readU32(payload, payload.startIndex) : nil
    }

    static func appendU16(_ v: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xFF))
    }

    static func appendU32(_ v: UInt32, to out: inout [UInt8]) {
        appendU16(UInt16(v >> 16), to: &out); appendU16(UInt16(v & 0xFFFF), to: &out)
    }

    static func readU16(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt16 {
        UInt16(b[i]) << 8 | UInt16(b[i + 1])
    }

    static func readU32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        UInt32(readU16(b, i)) << 16 | UInt32(readU16(b, i + 2))
    }
}
