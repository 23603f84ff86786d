import Synchronization
import WinSock

/// Access flags of WSPRegisterMemory / WSPRegisterRdmaMemory.
struct MemoryAccess: OptionSet, Sendable, Hashable {
    let rawValue: DWORD
    static let read = MemoryAccess(rawValue: DWORD(MEM_READ))
    static let write = MemoryAccess(rawValue: DWORD(MEM_WRITE))

    /// MEM_READ, MEM_WRITE or MEM_READWRITE; anything else is WSAEINVAL.
    init(flags: DWORD) throws(WSAError) {
        guard flags != 0, flags & ~DWORD(MEM_READWRITE) == 0 else { throw .invalid }
        rawValue = flags
    }
    init(rawValue: DWORD) { self.rawValue = rawValue }
}

/// One WSPRegisterMemory registration: a range of this process's memory the switch may use as
/// a local buffer of the registering socket (send/RDMA-write source needs MEM_READ, receive/
/// RDMA-read target needs MEM_WRITE). The same range registered again on the same socket
/// returns the same handle with its count raised; each WSPDeregisterMemory lowers it.
final class LocalRegistration: Sendable {
    let owner: UInt64           // the socket descriptor
    let base: UInt
    let length: Int
    let access: MemoryAccess
    let references = Mutex(1)
    /// Set once the handle table assigned the handle.
    let handle = Mutex<UInt64>(0)

    init(owner: UInt64, base: UInt, length: Int, access: MemoryAccess) {
        self.owner = owner
        self.base = base
        self.length = length
        self.access = access
    }

    func contains(_ address: UInt, _ count: Int) -> Bool {
        guard address >= base else { return false }
        let offset = address - base
        return offset <= UInt(length) && UInt(count) <= UInt(length) - offset
    }
}

/// The process-wide table behind the HANDLEs WSPRegisterMemory returns. A HANDLE is
/// `table id << 1 | 1`: never NULL, and a forged or stale value simply misses.
enum LocalRegistrations {
    static let table = HandleTable<LocalRegistration>()

    static func handle(for id: UInt64) -> HANDLE { UnsafeMutableRawPointer(bitPattern: UInt(id << 1 | 1))! }

    static func id(of handle: HANDLE?) -> UInt64? {
        guard let handle else { return nil }
        let bits = UInt64(UInt(bitPattern: handle))
        return bits & 1 == 1 ? bits >> 1 : nil
    }

    static func lookup(_ handle: HANDLE?) -> LocalRegistration? {
        id(of: handle).flatMap { table.lookup($0) }
    }
}
