// Date formats of the OSS protocol, by hand on top of gmtime_r/timegm: Date and
// Last-Modified (RFC 1123), x-oss-date (ISO 8601 basic), and the XML LastModified
// (ISO 8601 extended with milliseconds).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ObjectStore

public enum HTTPDate {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func components(_ t: Int64) -> tm {
        var time = time_t(t)
        var out = tm()
        gmtime_r(&time, &out)
        return out
    }

    static func pad(_ v: Int32, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    public static func rfc1123(_ t: Int64) -> String {
        let c = components(t)
        return "\(days[Int(c.tm_wday)]), \(pad(c.tm_mday, 2)) \(months[Int(c.tm_mon)]) \(c.tm_year + 1900) "
            + "\(pad(c.tm_hour, 2)):\(pad(c.tm_min, 2)):\(pad(c.tm_sec, 2)) GMT"
    }

    public static func iso8601Basic(_ t: Int64) -> String {
        let c = components(t)
        return "\(pad(c.tm_year + 1900, 4))\(pad(c.tm_mon + 1, 2))\(pad(c.tm_mday, 2))T"
            + "\(pad(c.tm_hour, 2))\(pad(c.tm_min, 2))\(pad(c.tm_sec, 2))Z"
    }

    public static func iso8601(_ t: Int64) -> String {
        let c = components(t)
        return "\(pad(c.tm_year + 1900, 4))-\(pad(c.tm_mon + 1, 2))-\(pad(c.tm_mday, 2))T"
            + "\(pad(c.tm_hour, 2)):\(pad(c.tm_min, 2)):\(pad(c.tm_sec, 2)).000Z"
    }

    static func epoch(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int) -> Int64 {
        var c = tm()
        c.tm_year = Int32(y - 1900)
        c.tm_mon = Int32(mo - 1)
        c.tm_mday = Int32(d)
        c.tm_hour = Int32(h)
        c.tm_min = Int32(mi)
        c.tm_sec = Int32(s)
        return Int64(timegm(&c))
    }

    /// Parses `Tue, 02 Jan 2024 03:04:05 GMT`.
    public static func parseRFC1123(_ s: String) -> Timestamp? {
        let parts = s.split(separator: " ")
        guard parts.count == 6, let d = Int(parts[1]), let mo = months.firstIndex(of: String(parts[2])),
            let y = Int(parts[3])
        else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        return Timestamp(seconds: epoch(y, mo + 1, d, hms[0], hms[1], hms[2]))
    }

    /// Parses `2024-01-02T03:04:05.000Z` (fraction optional) and `20240102T030405Z`.
    public static func parseISO8601(_ s: String) -> Timestamp? {
        let digits = s.unicodeScalars.filter { ("0"..."9").contains($0) }.map { Int($0.value) - 48 }
        guard digits.count >= 14 else { return nil }
        func num(_ r: Range<Int>) -> Int { digits[r].reduce(0) { $0 * 10 + $1 } }
        var nanos: Int32 = 0
        if digits.count > 14 {
            let frac = digits[14...].prefix(9)
            nanos = Int32(frac.reduce(0) { $0 * 10 + $1 } * Int(pow10(9 - frac.count)))
        }
        return Timestamp(seconds: epoch(num(0..<4), num(4..<6), num(6..<8), num(8..<10), num(10..<12), num(12..<14)),
                         nanoseconds: nanos)
    }

    private static func pow10(_ n: Int) -> Int { (0..<n).reduce(1) { r, _ in r * 10 } }
}
