import WinSock

@c @implementation
public func WSPIoctl(
    _ s: SOCKET, _ dwIoControlCode: DWORD, _ lpvInBuffer: LPVOID?, _ cbInBuffer: DWORD,
    _ lpvOutBuffer: LPVOID?, _ cbOutBuffer: DWORD, _ lpcbBytesReturned: LPDWORD?,
    _ lpOverlapped: LPWSAOVERLAPPED?, _ lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE?,
    _ lpThreadId: LPWSATHREADID?, _ lpErrno: LPINT?
) -> Int32 {
    reporting(lpErrno) { () throws(WSAError) in
        switch dwIoControlCode {
        case SIO_GET_EXTENSION_FUNCTION_POINTER:
            // Answered for any s, as the switch may ask before it has a socket (spec §1.2).
            _ = try Provider.shared.context()
            guard let lpvInBuffer, cbInBuffer >= 16 else { throw .fault }
            guard let function = ExtensionFunction(guid: lpvInBuffer) else { throw .invalid }
            let size = MemoryLayout<UnsafeRawPointer>.size
            guard let lpvOutBuffer, Int(cbOutBuffer) >= size else { throw .fault }
            guard let pointer = ExtensionExports.pointer(for: function) else {
                throw .opNotSupported
            }
            lpvOutBuffer.storeBytes(of: pointer, as: UnsafeRawPointer.self)
            lpcbBytesReturned?.pointee = DWORD(size)
        case SIO_ADDRESS_LIST_QUERY:
            let socket = try Provider.shared.socket(s)
            try AddressList.write(
                Provider.shared.servedAddresses(family: socket.family), family: socket.family,
                into: lpvOutBuffer, capacity: Int(cbOutBuffer), returned: lpcbBytesReturned)
        case SIO_ADDRESS_LIST_CHANGE, SIO_GET_QOS, SIO_SET_QOS, SIO_GET_GROUP_QOS,
             SIO_SET_GROUP_QOS:
            _ = try Provider.shared.socket(s)
            throw .opNotSupported
        default:
            _ = try Provider.shared.socket(s)
            throw .invalid
        }
    }
}
