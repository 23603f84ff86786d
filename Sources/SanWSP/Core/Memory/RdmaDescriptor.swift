import WinSock

/// The bytes WSPRegisterRdmaMemory hands the switch and the peer hands back to WSPRdmaWrite /
/// WSPRdmaRead. Self-contained (no pointer into this process is trusted), 40 bytes, big-endian:
///
///     0  u32 magic "SWRD"     4  u16 version (1)   6  u16 access (MEM_*)
///     8  u32 length          12  u32 rkey (verbs)  16  u64 address (verbs iova)
///    24  u64 region id       32  u64 key (soft: 64 random bits)
///
/// The responder trusts none of it: it looks the region up by id on that connection and checks
/// the key, bounds, access and that the region is still registered.
enum RdmaDescriptor {
    static let size = 40
    static let magic: UInt32 = 0x5357_5244

    static func encode(_ r: RemoteRegion, into out: UnsafeMutableRawPointer) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        func put<T: FixedWidthInteger>(_ v: T) {
            withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
        }
        put(magic); put(UInt16(1)); put(UInt16(r.access.rawValue)); put(r.length); put(r.rkey)
        put(r.address); put(r.regionId); put(r.key)
        bytes.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: size) }
    }

    /// WSAEINVAL for a wrong length or a descriptor sanwsp did not make.
    static func decode(_ pointer: UnsafeRawPointer?, length: DWORD) throws(WSAError) -> RemoteRegion {
        guard let pointer else { throw .fault }
        guard length == DWORD(size) else { throw .invalid }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(bigEndian: pointer.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard get(0, UInt32.self) == magic, get(4, UInt16.self) == 1 else { throw .invalid }
        let access = MemoryAccess(rawValue: DWORD(get(6, UInt16.self)))
        guard !access.isEmpty, access.rawValue & ~DWORD(MEM_READWRITE) == 0 else { throw .invalid }
        return RemoteRegion(
            regionId: get(24, UInt64.self), key: get(32, UInt64.self), address: get(16, UInt64.self),
            rkey: get(12, UInt32.self), length: get(8, UInt32.self), access: access)
    }
}
