import Synchronization

/// Maps opaque 64-bit handles to live objects without a global lock on lookup.
///
/// A handle is `generation << 16 | index`. Slots live in 256 chunks of 256 that are allocated on
/// demand and never freed, so a lookup is one atomic chunk load plus that slot's own lock. The
/// generation grows each time a slot is reused, so a handle is never valid again after removal:
/// stale, double-closed and forged handles all miss (the caller maps that to WSAENOTSOCK or
/// WSA_INVALID_HANDLE). Capacity is 65,536 live objects per table.
final class HandleTable<Object: AnyObject & Sendable>: @unchecked Sendable {
    // @unchecked: the raw pointers are written once (chunks) or only under their slot lock.

    struct Entry {
        var generation: UInt64 = 0
        var object: Object? = nil
    }

    final class Chunk: @unchecked Sendable {
        let slots: UnsafeMutablePointer<Mutex<Entry>>
        init() {
            slots = .allocate(capacity: HandleTable.chunkSize)
            for i in 0..<HandleTable.chunkSize { (slots + i).initialize(to: Mutex(Entry())) }
        }
        // Chunks are never deinitialised: a concurrent lookup may still be reading one.
    }

    static var chunkSize: Int { 256 }
    static var chunkCount: Int { 256 }
    static var capacity: Int { chunkSize * chunkCount }

    private let chunks: UnsafeMutablePointer<Atomic<Unmanaged<Chunk>?>>
    private struct Allocator {
        var free: [Int] = []
        var nextFresh = 0
        var live = 0
    }
    private let allocator = Mutex(Allocator())

    init() {
        chunks = .allocate(capacity: Self.chunkCount)
        for i in 0..<Self.chunkCount { (chunks + i).initialize(to: Atomic(nil)) }
    }

    private func slot(_ index: Int) -> UnsafeMutablePointer<Mutex<Entry>>? {
        guard index >= 0, index < Self.capacity,
              let chunk = chunks[index / Self.chunkSize].load(ordering: .acquiring)
        else { return nil }
        return chunk.takeUnretainedValue().slots + (index % Self.chunkSize)
    }

    /// Stores `object` and returns its new handle, or nil when the table is full.
    func insert(_ object: Object) -> UInt64? {
        let index: Int? = allocator.withLock { a in
            if let reused = a.free.popLast() { a.live += 1; return reused }
            guard a.nextFresh < Self.capacity else { return nil }
            let fresh = a.nextFresh
            if fresh % Self.chunkSize == 0 {
                let chunk = Unmanaged.passRetained(Chunk())
                chunks[fresh / Self.chunkSize].store(chunk, ordering: .releasing)
            }
            a.nextFresh += 1
            a.live += 1
            return fresh
        }
        guard let index, let slot = slot(index) else { return nil }
        let generation = slot.pointee.withLock { entry in
            entry.generation += 1
            entry.object = object
            return entry.generation
        }
        return generation << 16 | UInt64(index)
    }

    private static func split(_ handle: UInt64) -> (index: Int, generation: UInt64) {
        (Int(handle & 0xFFFF), handle >> 16)
    }

    /// The live object for `handle`, or nil.
    func lookup(_ handle: UInt64) -> Object? {
        let (index, generation) = Self.split(handle)
        guard generation != 0, let slot = slot(index) else { return nil }
        return slot.pointee.withLock { $0.generation == generation ? $0.object : nil }
    }

    /// Removes and returns the object for `handle`; nil if it was not live. Exactly one of
    /// several concurrent removers of the same handle gets the object.
    func remove(_ handle: UInt64) -> Object? {
        let (index, generation) = Self.split(handle)
        guard generation != 0, let slot = slot(index) else { return nil }
        let removed: Object? = slot.pointee.withLock { entry in
            guard entry.generation == generation, let object = entry.object else { return nil }
            entry.object = nil
            return object
        }
        if removed != nil {
            allocator.withLock { a in
                a.free.append(index)
                a.live -= 1
            }
        }
        return removed
    }

    /// Removes every live object (final cleanup).
    func removeAll() -> [(handle: UInt64, object: Object)] {
        let used = allocator.withLock { $0.nextFresh }
        var out: [(UInt64, Object)] = []
        for index in 0..<used {
            guard let slot = slot(index) else { continue }
            let handle: UInt64? = slot.pointee.withLock { entry in
                entry.object == nil ? nil : entry.generation << 16 | UInt64(index)
            }
            if let handle, let object = remove(handle) { out.append((handle, object)) }
        }
        return out
    }

    var liveCount: Int { allocator.withLock { $0.live } }
}
