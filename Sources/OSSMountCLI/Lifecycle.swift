// A running mount's signals. SIGTERM and SIGINT shut down
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
