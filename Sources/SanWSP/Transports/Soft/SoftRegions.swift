import Synchronization
import WinSock

/// The regions this side exposed to the peer of one connection (WSPRegisterRdmaMemory). The
/// peer names a region by id and must present its 64-bit random key; every access is checked
/// against the bounds and rights recorded here, never against anything the peer sends.
final class SoftRegions: Sendable {
    struct Region: Sendable {
        let base: UInt
        let length: Int
        let access: MemoryAccess
        let key: UInt64
        var inUse = 0
    }
    private struct Table {
        var regions: [UInt64: Region] = [:]
        var open = true   // false once the connection ended: nothing is reachable any more
        var nextId = UInt64.random(in: 1...(1 << 48))
    }
    private let table = Mutex(Table())

    func expose(base: UInt, length: Int, access: MemoryAccess) -> RemoteRegion {
        var generator = SystemRandomNumberGenerator()   // getrandom(2): unguessable keys
        let key = generator.next() as UInt64
        let id = table.withLock { t -> UInt64 in
            let id = t.nextId
            t.nextId &+= 1
            t.regions[id] = Region(base: base, length: length, access: access, key: key)
            return id
        }
        return RemoteRegion(regionId: id, key: key, address: UInt64(base), rkey: 0,
                            length: UInt32(length), access: access)
    }

    func revoke(_ r: RemoteRegion) throws(WSAError) {
        try table.withLock { (t: inout Table) throws(WSAError) in
            guard let region = t.regions[r.regionId], region.key == r.key,
                  region.inUse == 0 else { throw .invalid }
            t.regions[r.regionId] = nil
        }
    }

    /// Checks a peer's access and pins the region for its duration; returns the local address,
    /// or nil for any violation (unknown id, wrong key, missing right, out of bounds).
    func begin(_ h: SoftWire.RdmaHeader, needs: MemoryAccess) -> UInt? {
        table.withLock { t in
            guard t.open, var region = t.regions[h.regionId], region.key == h.key,
                  region.access.contains(needs),
                  UInt64(h.offset) + UInt64(h.length) <= UInt64(region.length) else { return nil }
            region.inUse += 1
            t.regions[h.regionId] = region
            return region.base + UInt(h.offset)
        }
    }

    func end(_ regionId: UInt64) {
        // Read, change, store: `t.regions[id]?.inUse -= 1` goes through the dictionary's
        // _modify coroutine, whose frame was heap-allocated on every RDMA access.
        table.withLock { t in
            guard var region = t.regions[regionId] else { return }
            region.inUse -= 1
            t.regions[regionId] = region
        }
    }

    /// The connection ended: no region is reachable any more, but the switch may still
    /// deregister its descriptors (and gets 0, not WSAEINVAL, for valid ones).
    func closeAccess() { table.withLock { $0.open = false } }
}
