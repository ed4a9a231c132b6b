// A running mount's signals and log file. SIGTERM and SIGINT shut down
// gracefully: no new writers, the open files' bytes stored within
// `shutdown_timeout` (VFS.shutdown), then the loop ends and the mount goes; what
// could not be stored is aborted and named, and the exit status is 1. SIGHUP
// reopens the log file (logrotate's postrotate) and keeps the mount.
import Dispatch
import Foundation
import FuseKit
import Logging
import Synchronization
import VFS

final class SignalHandling {
    private final class State: Sendable {
        let value = Mutex<(started: Bool, lost: [String])>((false, []))
    }
    private let sources: [any DispatchSourceSignal]
    private let state = State()

    init(vfs: VFS, session: FuseSession, config: MountConfig, logger: Logger, logFile: LogFile?) {
        // Handled here, not by libfuse (whose handlers would end the loop at once).
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { signal(s, SIG_IGN) }
        let queue = DispatchQueue(label: "ossmount.signals")
        var made: [any DispatchSourceSignal] = []
        let state = self.state
        for number in [SIGTERM, SIGINT, SIGHUP] {
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if number == SIGHUP {
                    logFile?.reopen()
                    logger.info("SIGHUP: log file reopened; still mounted", metadata: ["log_file": "\(config.logFile ?? "-")"])
                    return
                }
                guard state.value.withLock({ s in defer { s.started = true }; return !s.started }) else { return }
                SystemdNotify.send("STOPPING=1")
                logger.notice("shutting down: storing the files open for writing",
                              metadata: ["signal": "\(number == SIGTERM ? "SIGTERM" : "SIGINT")",
                                         "shutdown_timeout": "\(config.shutdownTimeout)"])
                Task {
                    let report = await vfs.shutdown(within: .milliseconds(Int64(config.shutdownTimeout * 1000)))
                    state.value.withLock { $0.lost = report.lost }
                    if !report.stored.isEmpty {
                        logger.notice("stored at shutdown", metadata: ["keys": "\(report.stored.joined(separator: ", "))"])
                    }
                    // stop blocks (a stat, a short sleep): a thread of its own, not the pool's.
                    Thread.detachNewThread { session.stop(mountpoint: config.mountpoint) }
                }
            }
            source.resume()
            made.append(source)
        }
        sources = made
    }

    /// After the loop ended: the keys a shutdown could not store.
    func finished() -> [String] {
        for s in sources { s.cancel() }
        return state.value.withLock { $0.lost }
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

/// StreamLogHandler's levels and metadata, written to the log file.
struct FileLogHandler: LogHandler {
    var base: StreamLogHandler
    let file: LogFile
    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }
    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }
    func log(event: LogEvent) {
        let meta = metadata.merging(event.metadata ?? [:]) { $1 }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        file.write("\(Date()) \(event.level) \(event.message)\(meta.isEmpty ? "" : " " + meta)\n")
    }
}
