/// What sanwsp puts in rdma_cm private data (docs/WIRE.md, "Verbs transport"):
///
///     REQ  u8 'S', u8 version 1, u16 caller port (big-endian), u8 data length, u8 0, data
///     REP  u8 'S', u8 version 1, u8 data length, u8 0, data
///     REJ  u8 'S', u8 version 1, u8 reason (RejectReason)
///
/// An InfiniBand CM REQ carries 56 bytes of private data after rdma_cm's header: 6 + 48 fit.
enum VerbsPrivateData {
    static let magic: UInt8 = 0x53
    static let version: UInt8 = 1

    static func request(callerPort: UInt16, data: [UInt8]) -> [UInt8] {
        [magic, version, UInt8(callerPort >> 8), UInt8(callerPort & 0xFF), UInt8(data.count), 0] + data
    }

    static func parseRequest(_ b: [UInt8]) -> (port: UInt16, data: [UInt8])? {
        guard b.count >= 6, b[0] == magic, b[1] == version else { return nil }
        let n = Int(b[4])
        guard n <= ConnectData.maximum, b.count >= 6 + n else { return nil }
        return (UInt16(b[2]) << 8 | UInt16(b[3]), Array(b[6..<(6 + n)]))
    }

    static func reply(data: [UInt8]) -> [UInt8] { [magic, version, UInt8(data.count), 0] + data }

    static func parseReply(_ b: [UInt8]) -> [UInt8]? {
        guard b.count >= 4, b[0] == magic, b[1] == version else { return nil }
        let n = Int(b[2])
        guard n <= ConnectData.maximum, b.count >= 4 + n else { return nil }
        return Array(b[4..<(4 + n)])
    }

    static func reject(_ reason: RejectReason) -> [UInt8] { [magic, version, UInt8(reason.rawValue)] }

    static func parseReject(_ b: [UInt8]) -> RejectReason? {
        guard b.count >= 3, b[0] == magic, b[1] == version else { return nil }
        return RejectReason(rawValue: UInt32(b[2]))
    }
}
