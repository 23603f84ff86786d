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
        /// One message: the payload is the message.
        case data = 16
        /// RDMA write: 32-byte RDMA header, then the bytes to place.
        case rdmaWrite = 17
        /// RDMA read request: 32-byte RDMA header (length = bytes wanted).
        case readRequest = 18
        /// RDMA read response: 16-byte status header, then the bytes read.
        case readResponse = 19
        /// RDMA write acknowledgement: 16-byte status header.
        case writeAck = 20
    }

    /// RDMA header: u64 operation id, u64 region id, u64 key, u32 offset, u32 length.
    static let rdmaHeaderSize = 32
    /// Status header: u64 operation id, u32 status (0 = done, 1 = access violation), u32 0.
    static let statusHeaderSize = 16

    enum Status: UInt32 { case ok = 0, accessViolation = 1 }

    struct RdmaHeader: Equatable {
        var opId: UInt64, regionId: UInt64, key: UInt64, offset: UInt32, length: UInt32
    }

    /// Writes a frame header (and an RDMA or status header) into `out`; returns its length.
    static func writeHeader(_ type: FrameType, length: Int, into out: UnsafeMutableRawPointer) -> Int {
        out.storeBytes(of: type.rawValue, as: UInt8.self)
        out.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)
        out.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        out.storeBytes(of: UInt32(truncatingIfNeeded: length).bigEndian, toByteOffset: 4, as: UInt32.self)
        return headerSize
    }

    static func writeRdmaHeader(_ h: RdmaHeader, into out: UnsafeMutableRawPointer) -> Int {
        out.storeBytes(of: h.opId.bigEndian, as: UInt64.self)
        out.storeBytes(of: h.regionId.bigEndian, toByteOffset: 8, as: UInt64.self)
        out.storeBytes(of: h.key.bigEndian, toByteOffset: 16, as: UInt64.self)
        out.storeBytes(of: h.offset.bigEndian, toByteOffset: 24, as: UInt32.self)
        out.storeBytes(of: h.length.bigEndian, toByteOffset: 28, as: UInt32.self)
        return rdmaHeaderSize
    }

    static func readRdmaHeader(_ p: UnsafeRawPointer) -> RdmaHeader {
        RdmaHeader(
            opId: UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
            regionId: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            key: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            offset: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)),
            length: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
    }

    static func writeStatus(opId: UInt64, status: Status, into out: UnsafeMutableRawPointer) -> Int {
        out.storeBytes(of: opId.bigEndian, as: UInt64.self)
        out.storeBytes(of: status.rawValue.bigEndian, toByteOffset: 8, as: UInt32.self)
        out.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        return statusHeaderSize
    }

    static func readStatus(_ p: UnsafeRawPointer) -> (opId: UInt64, status: UInt32) {
        (UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
         UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
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
