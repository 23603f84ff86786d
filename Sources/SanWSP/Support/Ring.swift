/// A FIFO queue over one growing array: pushes and pops reuse storage, so a queue that has
/// reached its working size allocates nothing more (the data path's pending operations).
struct Ring<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: max(capacity, 1))
    }

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    var first: Element? { count == 0 ? nil : storage[head] }

    /// Mutates the first element in place.
    mutating func withFirst<R>(_ body: (inout Element) -> R) -> R? {
        guard count > 0 else { return nil }
        return withElement(at: 0, body)
    }

    @discardableResult
    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()   // moves the element out, no copy
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// Removes everything, oldest first.
    mutating func drain() -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(count)
        while let e = popFirst() { out.append(e) }
        return out
    }

    /// Mutates the i-th element from the front (i < count) in place.
    mutating func withElement<R>(at i: Int, _ body: (inout Element) -> R) -> R {
        body(&storage[(head + i) % storage.count]!)
    }

    /// The i-th element from the front (i < count).
    subscript(i: Int) -> Element { storage[(head + i) % storage.count]! }

    func contains(where predicate: (Element) -> Bool) -> Bool {
        for i in 0..<count where predicate(storage[(head + i) % storage.count]!) { return true }
        return false
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for i in 0..<count { bigger[i] = storage[(head + i) % storage.count] }
        storage = bigger
        head = 0
    }
}
