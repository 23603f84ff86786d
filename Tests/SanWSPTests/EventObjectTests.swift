import Glibc
import Testing
import WinSock
@testable import SanWSP

@Suite struct EventObjectTests {
    func readable(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 1
    }

    @Test func setResetAndFd() {
        let e = WSACreateEvent()
        #expect(e != nil && UInt(bitPattern: e) & 1 == 0)
        let fd = WSAEventGetFd(e)
        #expect(fd >= 0 && !readable(fd))
        #expect(WSASetEvent(e) == 1 && WSASetEvent(e) == 1 && readable(fd))
        #expect(WSAResetEvent(e) == 1 && !readable(fd))
        #expect(WSACloseEvent(e) == 1)
        #expect(WSACloseEvent(e) == 0 && WSAGetLastError() == WSA_INVALID_HANDLE)
        #expect(WSASetEvent(e) == 0 && WSAGetLastError() == WSA_INVALID_HANDLE)
        #expect(WSAEventGetFd(UnsafeMutableRawPointer(bitPattern: 0x1234)) == -1)
        #expect(WSAResetEvent(nil) == 0 && WSAGetLastError() == WSA_INVALID_HANDLE)
    }

    @Test func waitForMultiple() {
        let events = (0..<3).map { _ in WSACreateEvent() }
        defer { events.forEach { _ = WSACloseEvent($0) } }
        #expect(WSAWaitForMultipleEvents(3, events, 0, 20, 0) == WSA_WAIT_TIMEOUT)
        _ = WSASetEvent(events[2])
        #expect(WSAWaitForMultipleEvents(3, events, 0, 20, 0) == WSA_WAIT_EVENT_0 + 2)
        #expect(WSAWaitForMultipleEvents(3, events, 1, 20, 0) == WSA_WAIT_TIMEOUT)
        #expect(WSAWaitForMultipleEvents(0, events, 0, 0, 0) == WSA_WAIT_FAILED)
        #expect(WSAGetLastError() == WSA_INVALID_PARAMETER)
        #expect(WSAWaitForMultipleEvents(1, nil, 0, 0, 0) == WSA_WAIT_FAILED && WSAGetLastError() == WSAEFAULT)
        let target = UInt(bitPattern: events[0])
        let thread = Thread { _ = WSASetEvent(UnsafeMutableRawPointer(bitPattern: target)) }
        #expect(WSAWaitForMultipleEvents(1, events, 0, WSA_INFINITE, 0) == WSA_WAIT_EVENT_0)
        thread.join()
    }

    @Test func handlesAreNotReusedAndFdsReturn() {
        let baseline = openFDCount()
        var seen = Set<UInt>()
        for _ in 0..<1000 {
            let e = WSACreateEvent()
            #expect(seen.insert(UInt(bitPattern: e)).inserted)
            _ = WSACloseEvent(e)
        }
        #expect(openFDCount() == baseline)
    }
}

/// A pthread for tests that need a second thread (no Foundation).
final class Thread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        pthread_create(&handle, nil, { arg in
            let me = Unmanaged<Thread>.fromOpaque(arg!).takeRetainedValue()
            usleep(30_000)
            me.body()
            return nil
        }, box.toOpaque())
    }

    func join() { pthread_join(handle, nil) }
}
