import CSystem
import Glibc
import Synchronization

/// Owns one kernel socket descriptor. Closing happens once, under the lock that writers take,
/// so no thread ever writes to a descriptor number that was closed and reused.
final class KernelSocket: Sendable {
    let fd: Int32
    private let isOpen = Mutex(true)

    init(fd: Int32) { self.fd = fd }

    deinit { close() }

    /// Closes the descriptor; only the first call does anything.
    func close() {
        isOpen.withLock { open in
            if open {
                Syscall.closeFD(fd)
                open = false
            }
        }
    }

    /// Writes all of `bytes` (small control frames). A full send buffer is waited out for at
    /// most `timeoutMs`; returns the errno on failure (ETIMEDOUT if it never drained).
    func sendAll(_ bytes: [UInt8], timeoutMs: Int32 = 1000) -> SysError? {
        isOpen.withLock { open -> SysError? in
            guard open else { return SysError(EBADF) }
            var offset = 0
            while offset < bytes.count {
                let result = bytes.withUnsafeBytes {
                    Syscall.send(fd, UnsafeRawBufferPointer(rebasing: $0[offset...]))
                }
                switch result {
                case .failure(let e): return e
                case .success(let n) where n > 0: offset += n
                case .success:
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if case .success(0) = Syscall.poll(&p, 1, timeoutMs: timeoutMs) {
                        return SysError(ETIMEDOUT)
                    }
                }
            }
            return nil
        }
    }
}

/// Collects one handshake frame (header + payload) from a nonblocking socket, never holding
/// more than `limit` bytes: a peer cannot make it allocate more.
struct FrameAssembler {
    let limit: Int
    private(set) var bytes: [UInt8] = []

    init(limit: Int) {
        self.limit = limit
        bytes.reserveCapacity(limit)
    }

    enum Outcome {
        case incomplete
        case frame(SoftWire.Header, ArraySlice<UInt8>)
        case endOfStream
        case failed(SysError)
        case malformed
    }

    /// Reads what is available; returns a frame once complete.
    mutating func read(from fd: Int32) -> Outcome {
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            let wanted = neededBytes()
            if case .malformed = wanted { return .malformed }
            guard case .need(let n) = wanted else { break }
            let result = chunk.withUnsafeMutableBytes {
                Syscall.receive(fd, UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]))
            }
            switch result {
            case .failure(let e): return .failed(e)
            case .success(nil): return .incomplete
            case .success(0): return .endOfStream
            case .success(let got?): bytes.append(contentsOf: chunk[0..<got])
            }
        }
        let header = SoftWire.decodeHeader(bytes[...])!
        return .frame(header, bytes[SoftWire.headerSize...])
    }

    private enum Need { case need(Int), complete, malformed }

    private func neededBytes() -> Need {
        if bytes.count < SoftWire.headerSize { return .need(SoftWire.headerSize - bytes.count) }
        guard let header = SoftWire.decodeHeader(bytes[...]),
              SoftWire.headerSize + Int(header.length) <= limit
        else { return .malformed }
        let total = SoftWire.headerSize + Int(header.length)
        return bytes.count < total ? .need(total - bytes.count) : .complete
    }
}
