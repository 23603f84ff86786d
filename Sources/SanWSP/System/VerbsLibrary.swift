import CVerbs
import Glibc
import Synchronization

/// libibverbs and librdmacm, loaded with dlopen the first time the verbs transport is asked
/// for: the provider links neither, so it loads (and runs soft) on machines without rdma-core.
/// This table is the seam for every non-inline verbs and rdma_cm call; tests replace entries to
/// force failures without hardware.
struct VerbsLibrary: @unchecked Sendable {
    // @unchecked: C function pointers, immutable after load.
    typealias CreateEventChannel = @convention(c) () -> UnsafeMutablePointer<rdma_event_channel>?
    typealias DestroyEventChannel = @convention(c) (UnsafeMutablePointer<rdma_event_channel>?) -> Void
    typealias CreateId = @convention(c) (UnsafeMutablePointer<rdma_event_channel>?,
        UnsafeMutablePointer<UnsafeMutablePointer<rdma_cm_id>?>?, UnsafeMutableRawPointer?,
        rdma_port_space) -> Int32
    typealias IdCall = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?) -> Int32
    typealias BindAddr = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, UnsafeMutablePointer<sockaddr>?) -> Int32
    typealias ResolveAddr = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, UnsafeMutablePointer<sockaddr>?,
        UnsafeMutablePointer<sockaddr>?, Int32) -> Int32
    typealias ResolveRoute = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, Int32) -> Int32
    typealias Connect = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, UnsafeMutablePointer<rdma_conn_param>?) -> Int32
    typealias Listen = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, Int32) -> Int32
    typealias Reject = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, UnsafeRawPointer?, UInt8) -> Int32
    typealias GetEvent = @convention(c) (UnsafeMutablePointer<rdma_event_channel>?,
        UnsafeMutablePointer<UnsafeMutablePointer<rdma_cm_event>?>?) -> Int32
    typealias AckEvent = @convention(c) (UnsafeMutablePointer<rdma_cm_event>?) -> Int32
    typealias CreateQp = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?, UnsafeMutablePointer<ibv_pd>?,
        UnsafeMutablePointer<ibv_qp_init_attr>?) -> Int32
    typealias DestroyQp = @convention(c) (UnsafeMutablePointer<rdma_cm_id>?) -> Void
    typealias AllocPd = @convention(c) (UnsafeMutablePointer<ibv_context>?) -> UnsafeMutablePointer<ibv_pd>?
    typealias DeallocPd = @convention(c) (UnsafeMutablePointer<ibv_pd>?) -> Int32
    typealias RegMr = @convention(c) (UnsafeMutablePointer<ibv_pd>?, UnsafeMutableRawPointer?, Int, Int32)
        -> UnsafeMutablePointer<ibv_mr>?
    typealias DeregMr = @convention(c) (UnsafeMutablePointer<ibv_mr>?) -> Int32
    typealias CreateCompChannel = @convention(c) (UnsafeMutablePointer<ibv_context>?)
        -> UnsafeMutablePointer<ibv_comp_channel>?
    typealias DestroyCompChannel = @convention(c) (UnsafeMutablePointer<ibv_comp_channel>?) -> Int32
    typealias CreateCq = @convention(c) (UnsafeMutablePointer<ibv_context>?, Int32, UnsafeMutableRawPointer?,
        UnsafeMutablePointer<ibv_comp_channel>?, Int32) -> UnsafeMutablePointer<ibv_cq>?
    typealias DestroyCq = @convention(c) (UnsafeMutablePointer<ibv_cq>?) -> Int32
    typealias GetCqEvent = @convention(c) (UnsafeMutablePointer<ibv_comp_channel>?,
        UnsafeMutablePointer<UnsafeMutablePointer<ibv_cq>?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    typealias AckCqEvents = @convention(c) (UnsafeMutablePointer<ibv_cq>?, UInt32) -> Void
    typealias ModifyQp = @convention(c) (UnsafeMutablePointer<ibv_qp>?, UnsafeMutablePointer<ibv_qp_attr>?, Int32) -> Int32
    typealias GetDeviceList = @convention(c) (UnsafeMutablePointer<Int32>?) -> UnsafeMutablePointer<UnsafeMutablePointer<ibv_device>?>?
    typealias FreeDeviceList = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<ibv_device>?>?) -> Void

    var createEventChannel: CreateEventChannel
    var destroyEventChannel: DestroyEventChannel
    var createId: CreateId
    var destroyId: IdCall
    var bindAddr: BindAddr
    var resolveAddr: ResolveAddr
    var resolveRoute: ResolveRoute
    var connect: Connect
    var listen: Listen
    var accept: Connect
    var reject: Reject
    var disconnect: IdCall
    var getEvent: GetEvent
    var ackEvent: AckEvent
    var createQp: CreateQp
    var destroyQp: DestroyQp
    var allocPd: AllocPd
    var deallocPd: DeallocPd
    var regMr: RegMr
    var deregMr: DeregMr
    var createCompChannel: CreateCompChannel
    var destroyCompChannel: DestroyCompChannel
    var createCq: CreateCq
    var destroyCq: DestroyCq
    var getCqEvent: GetCqEvent
    var ackCqEvents: AckCqEvents
    var modifyQp: ModifyQp
    var getDeviceList: GetDeviceList
    var freeDeviceList: FreeDeviceList

    /// The libraries, or nil (with the reason) when they cannot be loaded. Loaded once.
    static let shared: Result<VerbsLibrary, VerbsUnavailable> = load()

    /// Tests may substitute a modified table (fault injection); nil restores the real one.
    static let override = Mutex<VerbsLibrary?>(nil)

    static var current: Result<VerbsLibrary, VerbsUnavailable> {
        if let replaced = override.withLock({ $0 }) { return .success(replaced) }
        return shared
    }

    private static func load() -> Result<VerbsLibrary, VerbsUnavailable> {
        guard let verbs = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_LOCAL) else {
            return .failure(.init(reason: "libibverbs.so.1 not found"))
        }
        guard let cm = dlopen("librdmacm.so.1", RTLD_NOW | RTLD_LOCAL) else {
            return .failure(.init(reason: "librdmacm.so.1 not found"))
        }
        var missing: [String] = []
        func sym<T>(_ handle: UnsafeMutableRawPointer, _ name: String, _: T.Type) -> T? {
            guard let p = dlsym(handle, name) else { missing.append(name); return nil }
            return unsafeBitCast(p, to: T.self)
        }
        let library = VerbsLibrary(
            createEventChannel: sym(cm, "rdma_create_event_channel", CreateEventChannel.self) ?? { nil },
            destroyEventChannel: sym(cm, "rdma_destroy_event_channel", DestroyEventChannel.self) ?? { _ in },
            createId: sym(cm, "rdma_create_id", CreateId.self) ?? { _, _, _, _ in -1 },
            destroyId: sym(cm, "rdma_destroy_id", IdCall.self) ?? { _ in -1 },
            bindAddr: sym(cm, "rdma_bind_addr", BindAddr.self) ?? { _, _ in -1 },
            resolveAddr: sym(cm, "rdma_resolve_addr", ResolveAddr.self) ?? { _, _, _, _ in -1 },
            resolveRoute: sym(cm, "rdma_resolve_route", ResolveRoute.self) ?? { _, _ in -1 },
            connect: sym(cm, "rdma_connect", Connect.self) ?? { _, _ in -1 },
            listen: sym(cm, "rdma_listen", Listen.self) ?? { _, _ in -1 },
            accept: sym(cm, "rdma_accept", Connect.self) ?? { _, _ in -1 },
            reject: sym(cm, "rdma_reject", Reject.self) ?? { _, _, _ in -1 },
            disconnect: sym(cm, "rdma_disconnect", IdCall.self) ?? { _ in -1 },
            getEvent: sym(cm, "rdma_get_cm_event", GetEvent.self) ?? { _, _ in -1 },
            ackEvent: sym(cm, "rdma_ack_cm_event", AckEvent.self) ?? { _ in -1 },
            createQp: sym(cm, "rdma_create_qp", CreateQp.self) ?? { _, _, _ in -1 },
            destroyQp: sym(cm, "rdma_destroy_qp", DestroyQp.self) ?? { _ in },
            allocPd: sym(verbs, "ibv_alloc_pd", AllocPd.self) ?? { _ in nil },
            deallocPd: sym(verbs, "ibv_dealloc_pd", DeallocPd.self) ?? { _ in -1 },
            regMr: sym(verbs, "ibv_reg_mr", RegMr.self) ?? { _, _, _, _ in nil },
            deregMr: sym(verbs, "ibv_dereg_mr", DeregMr.self) ?? { _ in -1 },
            createCompChannel: sym(verbs, "ibv_create_comp_channel", CreateCompChannel.self) ?? { _ in nil },
            destroyCompChannel: sym(verbs, "ibv_destroy_comp_channel", DestroyCompChannel.self) ?? { _ in -1 },
            createCq: sym(verbs, "ibv_create_cq", CreateCq.self) ?? { _, _, _, _, _ in nil },
            destroyCq: sym(verbs, "ibv_destroy_cq", DestroyCq.self) ?? { _ in -1 },
            getCqEvent: sym(verbs, "ibv_get_cq_event", GetCqEvent.self) ?? { _, _, _ in -1 },
            ackCqEvents: sym(verbs, "ibv_ack_cq_events", AckCqEvents.self) ?? { _, _ in },
            modifyQp: sym(verbs, "ibv_modify_qp", ModifyQp.self) ?? { _, _, _ in -1 },
            getDeviceList: sym(verbs, "ibv_get_device_list", GetDeviceList.self) ?? { _ in nil },
            freeDeviceList: sym(verbs, "ibv_free_device_list", FreeDeviceList.self) ?? { _ in })
        guard missing.isEmpty else {
            return .failure(.init(reason: "missing symbols: \(missing.joined(separator: ", "))"))
        }
        return .success(library)
    }
}

struct VerbsUnavailable: Error, Sendable { let reason: String }

extension VerbsLibrary {
    /// Number of RDMA devices (0 when the kernel has none: ibv_get_device_list fails ENOSYS).
    func deviceCount() -> Int {
        var n: Int32 = 0
        guard let list = getDeviceList(&n) else { return 0 }
        freeDeviceList(list)
        return Int(n)
    }
}
