import Glibc
import Synchronization
import Testing

@testable import SanWSP

// Serialized: the descriptor-count test must not see other engine tests' loops come and go.
@Suite(.serialized)
struct EngineTests {
    // MARK: Descriptors

    @Test func readableAfterWrite() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        let seen = EngineCell<UInt32>(0)
        let onLoop = EngineCell<Bool>(false)
        let calls = EngineCounter()
        let id = try loop.register(fd: pipe.reader, events: EpollEvent.input) { [loop] events in
            seen.set(events)
            onLoop.set(loop.inLoopThread)
            pipe.drain()
            calls.increment()
        }
        usleep(20_000)
        #expect(calls.value == 0, "nothing written yet")
        pipe.write()
        #expect(engineWait { calls.value >= 1 })
        #expect(seen.value & EpollEvent.input != 0)
        #expect(onLoop.value)
        loop.unregister(id)
    }

    @Test func unregisterFromAnotherThreadStopsHandler() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        let calls = EngineCounter()
        let unregistered = EngineCell<Bool>(false)
        let lateCalls = EngineCounter()
        // Level-triggered and never drained: the handler runs back to back, and each call is
        // slow, so unregister nearly always lands while one is in flight.
        let id = try loop.register(fd: pipe.reader, events: EpollEvent.input) { _ in
            if unregistered.value { lateCalls.increment() }
            usleep(200)
            if unregistered.value { lateCalls.increment() }
            calls.increment()
        }
        pipe.write()
        #expect(engineWait { calls.value >= 20 })
        loop.unregister(id)
        unregistered.set(true)
        let after = calls.value
        pipe.write()
        usleep(50_000)
        #expect(calls.value == after)
        #expect(lateCalls.value == 0, "handler ran after unregister returned")
    }

    @Test func unregisterFromInsideHandler() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        let calls = EngineCounter()
        let registration = EngineCell<RegistrationID?>(nil)
        let id = try loop.register(fd: pipe.reader, events: EpollEvent.input) { [loop] _ in
            calls.increment()
            if let id = registration.withLock({ $0 }) { loop.unregister(id) }
        }
        registration.withLock { $0 = id }
        pipe.write()  // never drained: only the unregister stops a level-triggered storm
        #expect(engineWait { calls.value >= 1 })
        usleep(50_000)
        #expect(calls.value == 1)
    }

    @Test func edgeTriggeredReportsOncePerEdge() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        let calls = EngineCounter()
        _ = try loop.register(fd: pipe.reader, events: EpollEvent.input, trigger: .edge) { _ in
            calls.increment()
        }
        pipe.write()
        #expect(engineWait { calls.value >= 1 })
        usleep(30_000)
        #expect(calls.value == 1, "still readable, but no new edge")
        pipe.write()
        #expect(engineWait { calls.value >= 2 })
    }

    @Test func modifyChangesInterest() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        let seen = EngineCell<UInt32>(0)
        let calls = EngineCounter()
        // A pipe's write end is never readable, so nothing fires until we ask for writability.
        let id = try loop.register(fd: pipe.writer, events: EpollEvent.input) { [loop] events in
            seen.set(events)
            calls.increment()
            try? loop.modify(RegistrationID(rawValue: 0), events: 0)  // unknown: must not matter
        }
        usleep(20_000)
        #expect(calls.value == 0)
        try loop.modify(id, events: EpollEvent.output, trigger: .edge)
        #expect(engineWait { calls.value >= 1 })
        #expect(seen.value & EpollEvent.output != 0)
        #expect(throws: SysErrno(ENOENT)) { try loop.modify(RegistrationID(rawValue: 9999), events: 0) }
        #expect(throws: SysErrno(EEXIST)) { _ = try loop.register(fd: pipe.writer, events: 0) { _ in } }
    }

    // MARK: Work

    @Test func executeFromFourThreadsRunsEachOnceInOrder() async throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let perThread = 1000
        let log = EngineCell<[[Int]]>(Array(repeating: [], count: 4))
        let offLoop = EngineCounter()
        await withTaskGroup(of: Void.self) { group in
            for submitter in 0..<4 {
                group.addTask {
                    for sequence in 0..<perThread {
                        let accepted = loop.execute {
                            if !loop.inLoopThread { offLoop.increment() }
                            log.withLock { $0[submitter].append(sequence) }
                        }
                        precondition(accepted)
                    }
                }
            }
        }
        #expect(engineWait { log.withLock { $0.map(\.count).reduce(0, +) } >= 4 * perThread })
        usleep(20_000)  // a duplicate run would show up now
        let runs = log.withLock { $0 }
        for submitter in 0..<4 {
            #expect(runs[submitter] == Array(0..<perThread), "submitter \(submitter)")
        }
        #expect(offLoop.value == 0)
    }

    @Test func inLoopThreadAndShutdownRules() throws {
        let loop = try EventLoop()
        #expect(!loop.inLoopThread)
        let inside = EngineCell<Int>(0)
        loop.execute { inside.set(loop.inLoopThread ? 1 : 2) }
        #expect(engineWait { inside.value != 0 })
        #expect(inside.value == 1)
        loop.shutdown()
        loop.shutdown()  // idempotent
        #expect(!loop.execute {})
        #expect(throws: SysErrno(EBADF)) { _ = try loop.register(fd: 0, events: EpollEvent.input) { _ in } }
        #expect(loop.stopReason == nil)
    }

    // MARK: Timers

    @Test func timersFireInDeadlineOrderAndCancelledNever() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let fired = EngineCell<[Int]>([])
        let ms: UInt64 = 1_000_000
        loop.schedule(after: 30 * ms) { fired.withLock { $0.append(30) } }
        loop.schedule(after: 10 * ms) { fired.withLock { $0.append(10) } }
        let doomed = loop.schedule(after: 15 * ms) { fired.withLock { $0.append(15) } }
        loop.schedule(after: 20 * ms) { fired.withLock { $0.append(20) } }
        #expect(loop.cancel(doomed))
        #expect(!loop.cancel(doomed), "already cancelled")
        #expect(engineWait { fired.withLock { $0.count } >= 3 })
        usleep(30_000)
        #expect(fired.withLock { $0 } == [10, 20, 30])
    }

    @Test func timerCancelledByTimerDueInSameTurn() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let fired = EngineCell<[String]>([])
        let cancelled = EngineCell<Bool>(false)
        let victim = EngineCell<TimerID?>(nil)
        // Both are due by the time the loop wakes: the first must still be able to stop the second.
        loop.execute {
            loop.schedule(after: 2_000_000) {
                fired.withLock { $0.append("first") }
                if let id = victim.withLock({ $0 }) { cancelled.set(loop.cancel(id)) }
            }
            victim.withLock { $0 = loop.schedule(after: 2_000_000) { fired.withLock { $0.append("second") } } }
        }
        #expect(engineWait { fired.withLock { !$0.isEmpty } })
        usleep(20_000)
        #expect(fired.withLock { $0 } == ["first"])
        #expect(cancelled.value)
    }

    @Test func timerNeverFiresEarly() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let start = try EngineSyscalls.monotonicNanoseconds()
        let firedAt = EngineCell<UInt64>(0)
        loop.schedule(after: 20_000_000) {
            firedAt.set((try? EngineSyscalls.monotonicNanoseconds()) ?? 1)
        }
        #expect(engineWait { firedAt.value != 0 })
        let elapsed = firedAt.value &- start
        #expect(elapsed >= 20_000_000, "fired after \(elapsed) ns")
        #expect(elapsed < 1_000_000_000, "fired after \(elapsed) ns")
    }

    // MARK: Injected failures

    @Test func epollCreateFailureMakesInitThrow() {
        defer { EngineSyscallFaults.clear() }
        EngineSyscallFaults.inject(.epollCreate1, errno: EMFILE)
        #expect(throws: SysErrno(EMFILE)) { _ = try EventLoop() }
        #expect(EngineSyscallFaults.remaining(.epollCreate1) == 0)
    }

    @Test(arguments: [SystemCall.eventfd, .epollCtl, .threadCreate])
    func laterInitFailuresThrowAndCloseWhatWasOpened(call: SystemCall) {
        defer { EngineSyscallFaults.clear() }
        let thrown = EngineCell<[SysErrno?]>([])
        let balanced = engineDescriptorsBalance {
            EngineSyscallFaults.inject(call, errno: ENOMEM)
            do throws(SysErrno) {
                _ = try EventLoop()
                thrown.withLock { $0.append(nil) }
            } catch {
                thrown.withLock { $0.append(error) }
            }
        }
        #expect(balanced)
        #expect(thrown.withLock { $0.first } == SysErrno(ENOMEM))
        #expect(EngineSyscallFaults.remaining(call) == 0)
    }

    @Test func eintrIsRetriedTransparently() throws {
        defer { EngineSyscallFaults.clear() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        var byte: UInt8 = 7
        EngineSyscallFaults.inject(.write, errno: EINTR, times: 3)
        let written = try EngineSyscalls.write(pipe.writer, from: &byte, count: 1)
        #expect(written == 1)
        #expect(EngineSyscallFaults.remaining(.write) == 0)
        byte = 0
        EngineSyscallFaults.inject(.read, errno: EINTR, times: 2)
        let read = try EngineSyscalls.read(pipe.reader, into: &byte, count: 1)
        #expect(read == 1)
        #expect(byte == 7)
        #expect(EngineSyscallFaults.remaining(.read) == 0)
        EngineSyscallFaults.inject(.read, errno: EAGAIN)
        #expect(throws: SysErrno(EAGAIN)) { try EngineSyscalls.read(pipe.reader, into: &byte, count: 1) }
    }

    @Test func eintrInLoopWaitIsTransparent() throws {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let pipe = try EnginePipe()
        defer { pipe.close() }
        let calls = EngineCounter()
        _ = try loop.register(fd: pipe.reader, events: EpollEvent.input) { _ in
            pipe.drain()
            calls.increment()
        }
        let left = EngineCell<Int>(-1)
        // Armed on the loop thread, which calls epoll_wait next.
        loop.execute { EngineSyscallFaults.inject(.epollWait, errno: EINTR, times: 3) }
        usleep(20_000)
        pipe.write()
        #expect(engineWait { calls.value >= 1 })
        loop.execute { left.set(EngineSyscallFaults.remaining(.epollWait)) }
        #expect(engineWait { left.value >= 0 })
        #expect(left.value == 0)
        #expect(loop.stopReason == nil)
    }

    @Test func epollWaitFailureStopsLoopWithReason() throws {
        let loop = try EventLoop()
        loop.execute { EngineSyscallFaults.inject(.epollWait, errno: EBADF) }
        #expect(engineWait { loop.stopReason != nil })
        #expect(loop.stopReason == SysErrno(EBADF))
        #expect(!loop.execute {})
        loop.shutdown()
    }

    // MARK: Descriptors are released

    @Test func shutdownAndDeinitCloseDescriptors() throws {
        let created = EngineCounter()
        let balanced = engineDescriptorsBalance {
            for round in 0..<10 {
                let loop = try? EventLoop()
                if loop != nil { created.increment() }
                if round % 2 == 0 { loop?.shutdown() }  // odd rounds: deinit alone
            }
            // Shut down from its own thread: the exiting thread closes the descriptors.
            let selfStopped = try? EventLoop()
            selfStopped?.execute { [selfStopped] in selfStopped?.shutdown() }
            // Last reference dropped on the loop thread: deinit there must not deadlock or leak.
            let handOff = try? EventLoop()
            handOff?.execute { [handOff] in _ = handOff?.inLoopThread }
        }
        #expect(balanced)
        #expect(created.value >= 10)
    }
}

// MARK: Helpers (fileprivate: this file is compiled alongside other test files)

private final class EngineCell<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func set(_ value: Value) { storage.withLock { $0 = value } }
    func withLock<R>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
    var value: Value { storage.withLock { $0 } }
}

private final class EngineCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A pipe with a nonblocking read end.
private struct EnginePipe: Sendable {
    let reader: Int32
    let writer: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SysErrno(errno) }
        reader = fds[0]
        writer = fds[1]
        _ = fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK)
    }

    func write() {
        var byte: UInt8 = 1
        _ = Glibc.write(writer, &byte, 1)
    }

    func drain() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { Glibc.read(reader, $0.baseAddress, $0.count) }) > 0 {}
    }

    func close() {
        _ = Glibc.close(reader)
        _ = Glibc.close(writer)
    }
}

/// Polls `condition` for up to two seconds.
private func engineWait(_ condition: () -> Bool) -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// Counts this process's epoll and eventfd descriptors (the only kinds the engine opens).
private func engineAnonDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    var target = [CChar](repeating: 0, count: 256)
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name.first?.isNumber == true else { continue }
        let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        guard length > 0 else { continue }
        let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link == "anon_inode:[eventpoll]" || link == "anon_inode:[eventfd]" { count += 1 }
    }
    return count
}

/// True if running `body` leaves the epoll/eventfd descriptor count as it found it. Other test
/// suites may open such descriptors concurrently, so a mismatch is retried a few times: noise is
/// transient, a leak is not (every attempt would come out unequal).
private func engineDescriptorsBalance(_ body: () -> Void) -> Bool {
    for _ in 0..<5 {
        let before = engineAnonDescriptorCount()
        body()
        // Loops stopped from their own thread close their descriptors as that thread exits.
        if engineWait({ engineAnonDescriptorCount() == before }) { return true }
    }
    return false
}
