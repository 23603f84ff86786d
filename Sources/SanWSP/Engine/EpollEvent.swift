import CSystem

/// epoll event bits as UInt32, for register/modify and for handlers to test what is ready.
enum EpollEvent {
    static let input = EPOLLIN.rawValue
    static let priority = EPOLLPRI.rawValue
    static let output = EPOLLOUT.rawValue
    static let error = EPOLLERR.rawValue  // always reported, need not be requested
    static let hangup = EPOLLHUP.rawValue  // always reported, need not be requested
    static let readHangup = EPOLLRDHUP.rawValue
    static let oneShot = EPOLLONESHOT.rawValue
    static let edgeTriggered = EPOLLET.rawValue
}
