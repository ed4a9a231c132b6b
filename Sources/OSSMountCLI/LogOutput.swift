// Where the daemon's log lines go and how they look: one handler for stderr and
// the log file alike, `log_format=text` (time, level, message, key=value
// metadata) or `json` (one object per line), and the file rotated by size and
// reopened on SIGHUP.
import Foundation
import Logging
import ObjectStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum LogFormat: String, Sendable {
    case text, json
}

struct MountLogHandler: LogHandler {
    let format: LogFormat
    /// nil: standard error.
    let file: LogFile?
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(format: LogFormat, file: LogFile?) {
        self.format = format
        self.file = file
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let line = Self.line(format, time: Date(), level: event.level, message: "\(event.message)", metadata: merged)
        if let file { file.write(line) } else { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// UTC, to the millisecond: 2026-12-01T04:12:34.123Z.
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = min(999, Int((seconds - seconds.rounded(.down)) * 1000))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), ms)
    }

    static func line(_ format: LogFormat, time: Date, level: Logger.Level, message: String,
                     metadata: Logger.Metadata) -> String {
        let stamp = timestamp(time)
        let pairs = metadata.map { ($0.key, "\($0.value)") }.sorted { $0.0 < $1.0 }
        switch format {
        case .text:
            return "\(stamp) \(level) \(message)" + pairs.map { " \($0.0)=\($0.1)" }.joined() + "\n"
        case .json:
            let fields = [("time", stamp), ("level", "\(level)"), ("message", message)]
                + pairs.filter { !["time", "level", "message"].contains($0.0) }
            return "{" + fields.map { "\(JSONString.quoted($0.0)):\(JSONString.quoted($0.1))" }.joined(separator: ",") + "}\n"
        }
    }
}

/// The log file, appended to; `reopen` starts writing to whatever file is at the
/// path now (the old one was renamed away by logrotate). Past `maxSize` bytes it is
/// rotated: FILE → FILE.1 → ... → FILE.`maxFiles`, the oldest dropped.
final class LogFile: Sendable {
    let path: String
    let maxSize: Int
    let maxFiles: Int
    private let handle: Mutex<(file: FileHandle?, size: Int)>

    init?(path: String, maxSize: Int = 0, maxFiles: Int = 8) {
        self.path = path
        self.maxSize = maxSize
        self.maxFiles = maxFiles
        guard let h = Self.open(path) else { return nil }
        handle = Mutex((h, Int(h.offsetInFile)))
    }

    private static func open(_ path: String) -> FileHandle? {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let h = FileHandle(forWritingAtPath: path)
        h?.seekToEndOfFile()
        return h
    }

    func write(_ line: String) {
        handle.withLock { h in
            if maxSize > 0 && h.size > 0 && h.size + line.utf8.count > maxSize { rotate(&h) }
            h.file?.write(Data(line.utf8))
            h.size += line.utf8.count
        }
    }

    private func rotate(_ h: inout (file: FileHandle?, size: Int)) {
        try? h.file?.close()
        unlink("\(path).\(maxFiles)")
        for n in stride(from: maxFiles - 1, through: 1, by: -1) { rename("\(path).\(n)", "\(path).\(n + 1)") }
        rename(path, "\(path).1")
        h = (Self.open(path), 0)
    }

    func reopen() {
        let fresh = Self.open(path)
        handle.withLock { h in
            try? h.file?.close()
            h = (fresh, Int(fresh?.offsetInFile ?? 0))
        }
    }
}
