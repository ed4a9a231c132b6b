// What files carry besides their bytes: times in `x-oss-meta-mtime` with
// integer nanoseconds, and a Content-Type chosen from the name as ossfs and s3fs
// choose it (/etc/mime.types), so objects written here are served right over HTTP.
import Foundation
import ObjectStore

/// `x-oss-meta-mtime` as s3fs writes it: whole seconds, or seconds "." nine digits of
/// nanoseconds. Parsed without a double, so nanoseconds survive.
enum TimeMetadata {
    static func format(_ t: Timestamp) -> String {
        guard t.nanoseconds != 0 else { return String(t.seconds) }
        let digits = String(t.nanoseconds)
        return "\(t.seconds)." + String(repeating: "0", count: 9 - digits.count) + digits
    }

    static func parse(_ s: String) -> Timestamp? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let seconds = Int64(parts[0]) else { return nil }
        guard parts.count == 2 else { return Timestamp(seconds: seconds) }
        let fraction = parts[1].prefix(9)
        guard !fraction.isEmpty, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
            let n = Int32(fraction + String(repeating: "0", count: 9 - fraction.count))
        else { return nil }
        return Timestamp(seconds: seconds, nanoseconds: n)
    }
}

/// File name extension -> MIME type, from a mime.types file (Debian's
/// /etc/mime.types), with a few common types when there is none.
struct ContentTypes: Sendable {
    private let byExtension: [String: String]

    static let builtIn: [String: String] = [
        "txt": "text/plain", "html": "text/html", "htm": "text/html", "css": "text/css", "csv": "text/csv",
        "js": "text/javascript", "json": "application/json", "xml": "application/xml", "pdf": "application/pdf",
        "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar", "png": "image/png",
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "svg": "image/svg+xml", "webp": "image/webp",
        "mp4": "video/mp4", "mp3": "audio/mpeg", "wav": "audio/x-wav",
    ]

    init(file: String?) {
        var table = Self.builtIn
        if let file, let text = try? String(contentsOfFile: file, encoding: .utf8) {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.count > 1 else { continue }
                for ext in words.dropFirst() { table[ext.lowercased()] = String(words[0]) }
            }
        }
        byExtension = table
    }

    /// The type for `key`'s name; nil (the store's default, application/octet-stream)
    /// when its extension is unknown or it has none.
    func type(forKey key: String) -> String? {
        guard let name = key.split(separator: "/").last, let dot = name.lastIndex(of: "."), dot != name.startIndex else {
            return nil
        }
        return byExtension[name[name.index(after: dot)...].lowercased()]
    }
}
