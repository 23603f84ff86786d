/// Identifies one scheduled timer, for `EventLoop.cancel`.
struct TimerID: Hashable, Sendable {
    let rawValue: UInt64
}

/// A pending timer: `work` runs on the loop thread once the monotonic clock reaches `deadline`.
struct LoopTimer {
    let id: UInt64
    let deadline: UInt64  // CLOCK_MONOTONIC nanoseconds
    let work: @Sendable () -> Void

    /// Equal deadlines fire in scheduling order (ids increase).
    func precedes(_ other: LoopTimer) -> Bool {
        (deadline, id) < (other.deadline, other.id)
    }
}

/// A binary min-heap of timers with an id → slot index, so cancelling removes the timer at once
/// (O(log n)) rather than leaving a tombstone: connect timeouts are mostly cancelled, and
/// tombstones would pile up for their whole duration.
struct LoopTimerHeap {
    private var nodes: [LoopTimer] = []
    private var slots: [UInt64: Int] = [:]

    var count: Int { nodes.count }
    var nextDeadline: UInt64? { nodes.first?.deadline }

    /// Returns true if the timer became the earliest (the loop's wait may need shortening).
    mutating func insert(_ timer: LoopTimer) -> Bool {
        nodes.append(timer)
        slots[timer.id] = nodes.count - 1
        return siftUp(nodes.count - 1) == 0
    }

    mutating func remove(id: UInt64) -> LoopTimer? {
        guard let slot = slots[id] else { return nil }
        return remove(at: slot)
    }

    /// The earliest timer if it is due at `now`.
    mutating func popDue(now: UInt64) -> LoopTimer? {
        guard let first = nodes.first, first.deadline <= now else { return nil }
        return remove(at: 0)
    }

    mutating func removeAll() -> [LoopTimer] {
        defer { nodes = []; slots = [:] }
        return nodes
    }

    private mutating func remove(at slot: Int) -> LoopTimer {
        let removed = nodes[slot]
        slots[removed.id] = nil
        let last = nodes.removeLast()
        if slot < nodes.count {
            nodes[slot] = last
            slots[last.id] = slot
            siftDown(siftUp(slot))
        }
        return removed
    }

    @discardableResult
    private mutating func siftUp(_ start: Int) -> Int {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard nodes[child].precedes(nodes[parent]) else { break }
            swapAt(child, parent)
            child = parent
        }
        return child
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < nodes.count && nodes[left].precedes(nodes[first]) { first = left }
            if right < nodes.count && nodes[right].precedes(nodes[first]) { first = right }
            if first == parent { return }
            swapAt(parent, first)
            parent = first
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        nodes.swapAt(a, b)
        slots[nodes[a].id] = a
        slots[nodes[b].id] = b
    }
}
