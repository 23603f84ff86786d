import WinSock

/// SIO_ADDRESS_LIST_QUERY: a SOCKET_ADDRESS_LIST whose lpSockaddr pointers point into the same
/// output buffer, after the array.
enum AddressList {
    static func requiredSize(count: Int, family: Int32) -> Int {
        let header = MemoryLayout<SOCKET_ADDRESS_LIST>.offset(of: \SOCKET_ADDRESS_LIST.Address)!
        let entries = max(count, 1) * MemoryLayout<SOCKET_ADDRESS>.stride
        let headerAndEntries = max(header + entries, MemoryLayout<SOCKET_ADDRESS_LIST>.size)
        let aligned = (headerAndEntries + 7) & ~7
        return aligned + count * SocketAddress.length(of: family)
    }

    /// Fills `out` or fails WSAEFAULT with the needed size in `*returned`.
    static func write(_ addresses: [SocketAddress], family: Int32,
                      into out: UnsafeMutableRawPointer?, capacity: Int,
                      returned: UnsafeMutablePointer<DWORD>?) throws(WSAError)
    {
        guard let returned else { throw .fault }
        let needed = requiredSize(count: addresses.count, family: family)
        returned.pointee = DWORD(needed)
        guard let out, capacity >= needed else { throw .fault }
        out.initializeMemory(as: UInt8.self, repeating: 0, count: needed)
        let list = out.assumingMemoryBound(to: SOCKET_ADDRESS_LIST.self)
        list.pointee.iAddressCount = Int32(addresses.count)
        let header = MemoryLayout<SOCKET_ADDRESS_LIST>.offset(of: \SOCKET_ADDRESS_LIST.Address)!
        let entries = (out + header).assumingMemoryBound(to: SOCKET_ADDRESS.self)
        let length = SocketAddress.length(of: family)
        var cursor = out + (needed - addresses.count * length)
        for (i, address) in addresses.enumerated() {
            address.write(to: cursor)
            entries[i] = SOCKET_ADDRESS(
                lpSockaddr: cursor.assumingMemoryBound(to: sockaddr.self),
                iSockaddrLength: Int32(length))
            cursor += length
        }
    }
}
