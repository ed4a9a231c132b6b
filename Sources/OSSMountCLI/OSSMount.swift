// The ossmount command: parse, then either serve in the foreground (-f, and the
// background child) or start a background child and wait until its mount
// answers. Exit status 0 means mounted; anything else comes with one line on
// stderr that says what to fix.
import BuildInfo
import CLibc
import CurlTransport
import DataCache
import Foundation
import FuseKit
import Logging
import ObjectStore
import OSSClient
import VFS

public enum OSSMount {
    public static let version = BuildInfo.version

    public static func main(_ arguments: [String]) -> Int32 {
        Daemon.takeCommandName()
        if arguments.first == "uploads" { return UploadsCommand.run(Array(arguments.dropFirst())) }
        if arguments.first == "stats" && StatsCommand.applies(Array(arguments.dropFirst())) {
            return StatsCommand.run(Array(arguments.dropFirst()))
        }
        let command: MountCommand
        var config = MountConfig()
        do {
            command = try MountCommand.parse(arguments)
            if command.showHelp {
                print(MountCommand.help)
                return 0
            }
            if command.showVersion {
                print(BuildInfo.line("ossmount"))
                return 0
            }
            config.bucket = command.bucket
            config.prefix = command.prefix
            config.mountpoint = command.mountpoint
            // ossfs 2.0 lets other users in by default; as root that always works.
            if command.ossfs2Form && getuid() == 0 { config.allowOther = true }
            if let path = command.configFile {
                let file = try ConfigFile.parse(path: path)
                config.warnings += file.warnings
                try MountConfig.parse(file.options, into: &config)
            }
            try MountConfig.parse(command.options, into: &config)
            if config.insecure {
                config.warnings.append("insecure: TLS certificates are not verified; anyone on the path can read and change the traffic")
            }
            guard !config.bucket.isEmpty else {
                throw CommandLineError(command.ossfs2Form ? "no bucket given: add --oss_bucket=BUCKET"
                                       : "no bucket given: ossmount BUCKET[:/PREFIX] MOUNTPOINT, or -o uri=oss://BUCKET/PREFIX/")
            }
        } catch {
            return fail("\(error)", fd: nil)
        }
        // A background daemon always logs somewhere: without log_file, to a file named
        // after the mountpoint (stderr is /dev/null there).
        if !command.foreground && config.logFile == nil { config.logFile = defaultLogFile(config.mountpoint) }
        // Warnings once: on the terminal of whoever mounts (the background child logs them).
        if command.readyFD == nil {
            for w in config.warnings { FileHandle.standardError.write(Data("ossmount: warning: \(w)\n".utf8)) }
        }
        if command.printConfig {
            print(config.summary)
            return 0
        }
        if !command.foreground && command.readyFD == nil {
            return Daemon.startInBackground(arguments: arguments, mountpoint: config.mountpoint)
        }
        return serve(config, readyFD: command.readyFD)
    }

    /// /var/log/ossmount/MOUNTPOINT.log as root (the path's slashes as dashes, as systemd
    /// names mount units), ~/.local/state/ossmount/... otherwise.
    static func defaultLogFile(_ mountpoint: String) -> String {
        let absolute = mountpoint.hasPrefix("/") ? mountpoint : FileManager.default.currentDirectoryPath + "/" + mountpoint
        let name = absolute.split(separator: "/").joined(separator: "-")
        let directory = getuid() == 0 ? "/var/log/ossmount"
            : (ProcessInfo.processInfo.environment["HOME"] ?? "/tmp") + "/.local/state/ossmount"
        return "\(directory)/\(name.isEmpty ? "root" : name).log"
    }

    static func fail(_ message: String, fd: Int32?) -> Int32 {
        if let fd {
            Daemon.report(fd, "error: " + message)
        }
        FileHandle.standardError.write(Data("ossmount: \(message)\n".utf8))
        return 1
    }

    /// The logger, and the log file (reopened on SIGHUP) when there is one.
    static func makeLogger(_ config: MountConfig) -> (Logger, LogFile?) {
        if let path = config.logFile {  // its directory too, as ossfs 2.0 makes log_dir
            try? FileManager.default.createDirectory(atPath: Daemon.parentDirectory(of: path),
                                                     withIntermediateDirectories: true)
        }
        let file = config.logFile.flatMap { LogFile(path: $0, maxSize: config.logMaxSize, maxFiles: config.logMaxFiles) }
        let format = config.logFormat
        var logger = Logger(label: "ossmount") { _ in MountLogHandler(format: format, file: file) }
        logger.logLevel = Logger.Level(rawValue: config.logLevel) ?? .info
        return (logger, file)
    }

    /// Mounts and serves until unmounted or signalled.
    static func serve(_ config: MountConfig, readyFD: Int32?) -> Int32 {
        // Part and chunk buffers come and go by the megabyte: freed ones must leave the
        // resident set, or RSS outgrows total_mem_limit.
        _ = CLibc_return_large_blocks()
        let (logger, logFile) = makeLogger(config)
        if let path = config.logFile, logFile == nil {
            return fail("cannot write log_file \(path): \(String(cString: strerror(errno))); pass a writable path", fd: readyFD)
        }
        if readyFD != nil { for w in config.warnings { logger.warning("\(w)") } }
        do {
            try Mounter.checkMountpoint(config)
            try Mounter.checkStagingDir(config)
        } catch {
            return fail(error.description, fd: readyFD)
        }
        let kernelCache = FuseKernelCache()
        let metrics = MountMetrics(kernelCache: kernelCache)
        var metricsServer: MetricsServer?
        do {
            if config.metricsAddress.port != 0 { metricsServer = try MetricsServer(config.metricsAddress) }
        } catch {
            return fail(error.description, fd: readyFD)
        }
        let connected = Blocking.run { () async throws(MountFailure) in
            let (client, transport) = try await Mounter.connect(config, logger: logger,
                                                                metrics: ClientMetrics(factory: metrics.factory))
            await UploadsCommand.reportStale(client: client, config: config, logger: logger)
            return (client, transport)
        }
        let client: OSSClient, transport: CurlTransport
        switch connected {
        case .success(let pair): (client, transport) = pair
        case .failure(let e): return fail(e.description, fd: readyFD)
        }
        defer { transport.shutdown() }
        var vfsConfig = Mounter.vfsConfig(config)
        if let dir = config.cacheDir {
            do {
                vfsConfig.chunkCache = try DiskChunkCache(directory: dir, capacity: Int64(config.cacheSize), logger: logger)
            } catch {
                return fail(error.description, fd: readyFD)
            }
        }
        vfsConfig.kernelPageCache = KernelPageCacheAdapter(cache: kernelCache)
        let vfs = VFS(client: client, config: vfsConfig, logger: logger, metrics: metrics.factory)
        var connection = FuseConnectionOptions()
        connection.readdirplus = config.readdirplus
        connection.maxThreads = UInt32(config.maxThreads)
        let session: FuseSession
        do {
            session = try FuseSession(filesystem: FuseAdapter(vfs: vfs, directIO: config.directIO, metrics: metrics),
                                      mountOptions: Mounter.fuseOptions(config), connection: connection,
                                      kernelCache: kernelCache)
            try session.mount(at: config.mountpoint)
        } catch {
            return fail("\(error)", fd: readyFD)
        }
        logger.info("mounted", metadata: ["bucket": "\(config.bucket)", "prefix": "\(config.prefix)",
                                          "mountpoint": "\(config.mountpoint)"])
        if let metricsServer {
            metricsServer.start { metrics.render(vfs) }
            logger.info("serving metrics", metadata: ["address": "http://\(config.metricsAddress.host):\(metricsServer.port)/metrics"])
        }
        if let readyFD { Daemon.report(readyFD, "ok") }
        // The loop ends on unmount (also a lazy one), or when SIGTERM/SIGINT's shutdown
        // stored the open files (Lifecycle.swift). A negative errno is a failure.
        let signals = SignalHandling(vfs: vfs, session: session, config: config, logger: logger, logFile: logFile)
        SystemdNotify.readyWhenServing(config.mountpoint)
        let rc = session.run(signalHandlers: false)
        session.unmount()
        let lost = signals.finished()
        if !lost.isEmpty {
            logger.error("unmounted; files open for writing were not stored",
                         metadata: ["mountpoint": "\(config.mountpoint)", "keys": "\(lost.joined(separator: ", "))"])
            return 1
        }
        logger.info("unmounted", metadata: ["mountpoint": "\(config.mountpoint)"])
        if rc == 0 { return 0 }
        logger.error("FUSE loop failed", metadata: ["errno": "\(-rc)"])
        return 1
    }
}

/// Runs async work from synchronous code (startup only, before the FUSE loop).
enum Blocking {
    static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () async throws(E) -> T) -> Result<T, E> {
        let box = ResultBox<T, E>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do throws(E) { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
            done.signal()
        }
        done.wait()
        return box.get()
    }

    final class ResultBox<T: Sendable, E: Error>: @unchecked Sendable {
        // Safety: written once before the semaphore is signalled, read after it was waited on.
        private var value: Result<T, E>?
        func set(_ v: Result<T, E>) { value = v }
        func get() -> Result<T, E> { value! }
    }
}
