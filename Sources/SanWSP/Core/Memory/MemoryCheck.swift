import Glibc

/// Checks that a range the switch registers is mapped with the access it asks for, so that
/// later copies into or out of it cannot fault. Reads /proc/self/maps (registration is rare and
/// cached; the data path never calls this).
enum MemoryCheck {
    struct Mapping { let start: UInt; let end: UInt; let readable: Bool; let writable: Bool }

    static func mappings() -> [Mapping] {
        guard let file = fopen("/proc/self/maps", "r") else { return [] }
        defer { fclose(file) }
        var result: [Mapping] = []
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let fields = text.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16),
                  let end = UInt(range[1], radix: 16) else { continue }
            let perms = Array(fields[1])
            result.append(Mapping(start: start, end: end, readable: perms.first == "r",
                                  writable: perms.count > 1 && perms[1] == "w"))
        }
        return result
    }

    /// True when every byte of [base, base+length) is mapped readable, and writable if asked.
    static func isAccessible(base: UInt, length: Int, needsWrite: Bool) -> Bool {
        guard length > 0 else { return true }
        let (end, overflow) = base.addingReportingOverflow(UInt(length))
        guard !overflow else { return false }
        var cursor = base
        for m in mappings().sorted(by: { $0.start < $1.start }) where m.end > cursor {
            guard m.start <= cursor, m.readable, !needsWrite || m.writable else { return false }
            cursor = m.end
            if cursor >= end { return true }
        }
        return false
    }
}
