// `metrics_addr=HOST:PORT`: a small blocking HTTP/1.1 server on a thread of its
// own that answers `GET /metrics` with the Prometheus text (and `GET /` too).
// One scrape at a time is all Prometheus asks; the listening socket is bound
// before the mount so a taken port fails the mount with one line.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct MetricsAddress: Equatable, CustomStringConvertible {
    var host = "127.0.0.1"
    var port: UInt16 = 0

    var description: String { "\(host):\(port)" }

    /// `HOST:PORT`, `:PORT` (host kept) or `HOST:` (port kept); HOST is an IPv4 address or localhost.
    static func parse(_ text: String, over current: MetricsAddress?) throws(CommandLineError) -> MetricsAddress {
        var address = current ?? MetricsAddress()
        let hostPart: Substring, portPart: Substring
        if let colon = text.lastIndex(of: ":") {
            (hostPart, portPart) = (text[..<colon], text[text.index(after: colon)...])
        } else if text.allSatisfy(\.isNumber) {
            (hostPart, portPart) = ("", Substring(text))
        } else {
            (hostPart, portPart) = (Substring(text), "")
        }
        if !hostPart.isEmpty {
            let host = hostPart == "localhost" ? "127.0.0.1" : String(hostPart)
            var probe = in_addr()
            guard inet_pton(AF_INET, host, &probe) == 1 else {
                throw CommandLineError("option metrics_addr takes HOST:PORT with an IPv4 address, e.g. 127.0.0.1:9100")
            }
            address.host = host
        }
        if !portPart.isEmpty {
            guard let port = UInt16(portPart) else {
                throw CommandLineError("option metrics_addr takes a port from 0 to 65535, e.g. 127.0.0.1:9100")
            }
            address.port = port
        }
        return address
    }
}

final class MetricsServer: Sendable {
    let fd: Int32
    /// The port bound (the one asked for, or the kernel's choice for 0).
    let port: UInt16

    /// Binds and listens; a line that says what is wrong otherwise.
    init(_ address: MetricsAddress) throws(MountFailure) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw MountFailure("metrics_addr: cannot open a socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = address.port.bigEndian
        inet_pton(AF_INET, address.host, &sin.sin_addr)
        // Safety: sockaddr_in is the sockaddr of AF_INET; the pointer lives for the call.
        let bound = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(s, 16) == 0 else {
            let why = String(cString: strerror(errno))
            close(s)
            throw MountFailure("cannot serve metrics on \(address): \(why); choose another metrics_addr")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        // Safety: as above; getsockname writes at most `len` bytes into sin.
        _ = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        fd = s
        port = UInt16(bigEndian: sin.sin_port)
    }

    /// Answers requests on a thread of its own until the process ends.
    func start(_ text: @escaping @Sendable () -> String) {
        let fd = self.fd
        let thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                Self.answer(client, text)
                close(client)
            }
        }
        thread.name = "metrics"
        thread.start()
    }

    private static func answer(_ client: Int32, _ text: () -> String) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            request += buffer[0..<n]
            if request.count >= 4 && request.suffix(4) == [13, 10, 13, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let (status, body): (String, String)
        if line.count >= 2 && line[0] == "GET" && (line[1] == "/metrics" || line[1] == "/") {
            (status, body) = ("200 OK", text())
        } else if line.count >= 2 && line[0] != "GET" {
            (status, body) = ("405 Method Not Allowed", "only GET /metrics\n")
        } else {
            (status, body) = ("404 Not Found", "GET /metrics\n")
        }
        let payload = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            + "Content-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + payload
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
