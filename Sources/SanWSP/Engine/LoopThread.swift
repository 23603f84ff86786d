import Glibc

/// Starts the loop's pthread. The body is passed through a retained box because a C thread
/// entry point cannot capture context; the thread releases it when the body returns.
enum LoopThread {
    private final class Body {
        let name: String
        let run: () -> Void
        init(name: String, run: @escaping () -> Void) {
            self.name = name
            self.run = run
        }
    }

    static func start(name: String, _ run: @escaping @Sendable () -> Void) throws(SysErrno) -> pthread_t {
        let box = Unmanaged.passRetained(Body(name: name, run: run))
        do throws(SysErrno) {
            return try EngineSyscalls.threadCreate(entry, box.toOpaque())
        } catch {
            box.release()
            throw error
        }
    }

    /// The C entry point: takes back the box's retain and runs the body.
    private static let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { argument in
        let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
        setName(body.name)
        body.run()
        return nil
    }

    /// Names the calling thread for top/gdb (Linux allows 15 bytes); a debugging aid, so
    /// failure is ignored. pthread_setname_np is a GNU extension that neither Glibc's module
    /// nor the CSystem shim declares, hence the lookup.
    private static func setName(_ name: String) {
        typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
        guard let symbol = dlsym(nil, "pthread_setname_np") else { return }
        _ = unsafeBitCast(symbol, to: SetName.self)(pthread_self(), String(decoding: name.utf8.prefix(15), as: UTF8.self))
    }

    static var current: pthread_t { pthread_self() }

    static func join(_ thread: pthread_t) { _ = pthread_join(thread, nil) }

    /// For a loop shut down from its own thread, which cannot join itself.
    static func detachCurrent() { _ = pthread_detach(pthread_self()) }
}
