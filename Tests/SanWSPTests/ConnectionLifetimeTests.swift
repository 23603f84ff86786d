import Glibc
import Testing
import WinSock
@testable import SanWSP

/// Soft connection objects are held strongly by the engine's closures (a weak reference would
/// put every retain/release of them on the runtime's slow path): these check that closed and
/// lost connections are still released, so nothing accumulates per connection.
@Suite(.serialized)
struct ConnectionLifetimeTests {
    init() {
        TestSwitch.stopAll()
        TestSwitch.reset()
        TestSwitch.start()
    }

    private var live: Int { SoftConnection.live.load(ordering: .relaxed) }

    /// Waits until the count of live connections stops changing (earlier tests' connections
    /// are released on the engine thread shortly after they close), then returns it.
    private func settled() -> Int {
        var last = live, stableSince = Syscall.monotonicNanoseconds()
        let start = stableSince
        while Syscall.monotonicNanoseconds() - stableSince < 200_000_000,
              Syscall.monotonicNanoseconds() - start < 3_000_000_000 {
            usleep(10_000)
            if live != last { last = live; stableSince = Syscall.monotonicNanoseconds() }
        }
        return last
    }

    /// Waits (up to 2 s) for the count to come back to `baseline`.
    private func released(to baseline: Int) -> Bool {
        for _ in 0..<200 {
            if live == baseline { return true }
            usleep(10_000)
        }
        return live == baseline
    }

    /// A message each way with both sides waiting, so the connections have been driven by
    /// callers and have engine timers (the hand-back recheck) scheduled when they close.
    private func exchange(_ pair: ConnectedPair) {
        let a = Buffer(4096), b = Buffer(4096)
        _ = register(pair.client, a, MEM_READWRITE)
        _ = register(pair.server, b, MEM_READWRITE)
        for (from, to, src, dst) in [(pair.client, pair.server, a, b), (pair.server, pair.client, b, a)] {
            let r = Op(), s = Op()
            #expect(recv(to, r, [(dst.pointer, 4096)]) == WSA_IO_PENDING)
            src.set([1, 2, 3])
            #expect(send(from, s, [(src.pointer, 3)]) == WSA_IO_PENDING)
            #expect(s.wait(from) == (true, 3, 0))
            #expect(r.wait(to) == (true, 3, 0))
        }
    }

    @Test func closedConnectionsAreReleased() throws {
        let baseline = settled()
        let pair = try #require(ConnectedPair.make(port: 17660))
        #expect(live == baseline + 2)
        exchange(pair)
        pair.close()
        #expect(released(to: baseline))
    }

    @Test func lostConnectionIsReleasedWhenItsSocketCloses() throws {
        let baseline = settled()
        let pair = try #require(ConnectedPair.make(port: 17661))
        exchange(pair)
        let b = Buffer(4096)
        _ = register(pair.server, b, MEM_WRITE)
        let r = Op()
        #expect(recv(pair.server, r, [(b.pointer, 4096)]) == WSA_IO_PENDING)
        _ = closeSocket(pair.client)
        // The server's connection is lost (its pending receive fails)...
        let (ok, _, error) = r.wait(pair.server)
        #expect(!ok && error != 0)
        // ...and stays until WSPCloseSocket, which releases it.
        usleep(50_000)
        #expect(live == baseline + 1)
        _ = closeSocket(pair.server)
        _ = closeSocket(pair.listener)
        #expect(released(to: baseline))
    }

    @Test func manyConnectionsLeaveNothingBehind() throws {
        let baseline = settled()
        for i in 0..<20 {
            let pair = try #require(ConnectedPair.make(port: 17662 + UInt16(i % 2)))
            exchange(pair)
            pair.close()
        }
        #expect(released(to: baseline))
    }
}
