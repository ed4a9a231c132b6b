// systemd's readiness protocol (sd_notify) without libsystemd: a datagram to the
// socket named by $NOTIFY_SOCKET. `ossmount -f` under Type=notify sends READY=1
// once the mount answers a request, and STOPPING=1 when a shutdown begins.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum SystemdNotify {
    /// Sends `state` ("READY=1", "STOPPING=1") when $NOTIFY_SOCKET is set; a path, or
    /// `@name` for the abstract namespace.
    static func send(_ state: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return }
        var path = Array(name.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        // Safety: sun_path has room for `path` (checked above); the bytes are copied in place.
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { a in
            // Safety: sockaddr_un begins with the sockaddr header; sendto reads `length` bytes of it.
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { m in sendto(fd, m.baseAddress, m.count, 0, sa, length) }
            }
        }
    }

    /// Sends READY=1 from another thread once `mountpoint` answers a stat (which the
    /// kernel can only answer once the FUSE loop serves).
    static func readyWhenServing(_ mountpoint: String) {
        guard ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil else { return }
        Thread.detachNewThread {
            var st = stat()
            if stat(mountpoint, &st) == 0 { send("READY=1\nSTATUS=mounted \(mountpoint)") }
        }
    }
}
