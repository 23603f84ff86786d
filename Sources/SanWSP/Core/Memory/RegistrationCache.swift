import Synchronization

/// Ranges the provider has already checked (mapped, with the needed access) and, on transports
/// that pin memory, registered with the device. Registering the same range again reuses the
/// entry; WSPMemoryRegistrationCacheCallback drops every entry overlapping a range whose mapping
/// is about to change, so the next registration checks it afresh. Bounded: least recently used
/// entries go first.
final class RegistrationCache: Sendable {
    struct Entry: Sendable {
        var base: UInt
        var length: Int
        var writable: Bool
        var lastUse: UInt64
    }
    static let capacity = 1024
    private let entries = Mutex<[Entry]>([])
    private let clock = Atomic<UInt64>(0)

    /// True when [base, base+length) is known accessible (for writing too, if asked).
    func isKnownAccessible(base: UInt, length: Int, needsWrite: Bool) -> Bool {
        let now = clock.wrappingAdd(1, ordering: .relaxed).newValue
        return entries.withLock { list in
            for i in list.indices where list[i].base <= base
                && base &+ UInt(length) <= list[i].base &+ UInt(list[i].length)
                && (list[i].writable || !needsWrite) {
                list[i].lastUse = now
                return true
            }
            return false
        }
    }

    func remember(base: UInt, length: Int, writable: Bool) {
        let now = clock.wrappingAdd(1, ordering: .relaxed).newValue
        entries.withLock { list in
            if list.count >= Self.capacity,
               let oldest = list.indices.min(by: { list[$0].lastUse < list[$1].lastUse }) {
                list.remove(at: oldest)
            }
            list.append(Entry(base: base, length: length, writable: writable, lastUse: now))
        }
    }

    /// Drops entries overlapping the range; false when none did (the range was never cached).
    func invalidate(base: UInt, length: Int) -> Bool {
        entries.withLock { list in
            let before = list.count
            list.removeAll { $0.base < base &+ UInt(length) && base < $0.base &+ UInt($0.length) }
            return list.count != before
        }
    }
}
