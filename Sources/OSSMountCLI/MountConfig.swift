// MountConfig: every -o option, typed and checked. Options of ossfs 2.0, ossfs 1.x
// and JindoFuse are mapped or warned about (PeerOptions.swift); any other unknown
// option is an error that names it; options that only mean something to mount(8)
// or the kernel are accepted and passed on. Defaults and equivalents:
// docs/CONFIGURATION.md.

import Foundation

public struct MountConfig: Sendable {
    public var bucket = ""
    public var prefix = ""
    public var mountpoint = ""
    public var endpoint: String?
    public var region: String?

    /// The region requests are signed for: `region`, else the one an OSS endpoint name
    /// carries (`oss-cn-hangzhou.aliyuncs.com`, `oss-cn-hangzhou-internal.aliyuncs.com`,
    /// with or without a scheme), so such a mount signs V4 as OSS recommends.
    public var signingRegion: String? { region ?? endpoint.flatMap(Self.region(fromEndpoint:)) }

    static func region(fromEndpoint endpoint: String) -> String? {
        var host = Substring(endpoint)
        if let scheme = host.range(of: "://") { host = host[scheme.upperBound...] }
        host = host.prefix { $0 != "/" && $0 != ":" }
        let suffix = ".aliyuncs.com"
        guard host.hasPrefix("oss-"), host.hasSuffix(suffix) else { return nil }
        var name = host.dropFirst(4).dropLast(suffix.count)
        if name.hasSuffix("-internal") { name = name.dropLast("-internal".count) }
        // oss-accelerate(-overseas) and other global names carry no region.
        guard !name.isEmpty, !name.hasPrefix("accelerate"), !name.contains(".") else { return nil }
        return String(name)
    }
    /// 1 or 4; nil: V4 with a region, V1 without.
    public var signatureVersion: Int?
    public var readOnly = false
    public var allowOther = false
    /// With allow_other, leave permission checks to the daemon (which makes none).
    public var noDefaultPermissions = false
    public var nonempty = false
    public var uid: UInt32?
    public var gid: UInt32?
    public var umask: UInt32 = 0o022
    public var fileMode: UInt32 = 0o644
    public var dirMode: UInt32 = 0o755
    public var attrTimeout = 60.0
    public var entryTimeout = 60.0
    public var negativeTimeout = 0.0
    /// Files whose attributes outlive the kernel's inode (max_stat_cache_size).
    public var maxStatCacheSize = 100_000
    public var closeToOpen = false
    public var readdirplus = true
    public var kernelCache = false
    public var autoCache = true
    public var directIO = false
    public var maxThreads = 16
    public var prefetchChunkSize = 8 << 20
    /// The block a random read fetches, the rest of it stored in the page cache (0: off).
    public var randomFill = 1 << 20
    /// Chunks one reader fetches ahead.
    public var prefetchConcurrencyPerFile = PeerOptions.perFileDefault
    /// Prefetch GETs in flight for the whole mount (ossfs 2.0's meaning).
    public var prefetchConcurrency = 256
    /// The whole-mount prefetch budget in effect: `prefetch_concurrency`, but no more
    /// chunks (each with curl's receive buffer, at most 512 KiB) than the pool holds.
    public var prefetchBudget: Int { max(1, min(prefetchConcurrency, poolLimit / (prefetchChunkSize + (512 << 10)))) }
    public var totalMemLimit = 1 << 30
    /// What `total_mem_limit` leaves for the pool of prefetch chunks and parts once the
    /// buffers outside it are set aside: each FUSE worker's request buffer and the copy of
    /// the bytes a write carries (2 MiB per `max_threads`); never less than half.
    public var poolLimit: Int { max(totalMemLimit / 2, totalMemLimit - maxThreads * (2 << 20)) }
    public var uploadBufferSize = 8 << 20
    public var uploadConcurrency = 4
    public var stagingDir = "/tmp"
    /// 0: no limit beyond the disk.
    public var stagingMax = 0
    public var ignoreFsync = false
    public var seekableWrites = true
    /// Bytes of one streamed file kept for seek-backs (nil: the smaller of 4 GiB and a
    /// quarter of the staging directory's free space).
    public var seekableMax: Int?
    public var listAhead = true
    public var xattr = true
    public var appendMode = false
    public var appendFlushInterval = 1.0
    /// Seconds SIGTERM/SIGINT give the open files' uploads before the mount goes.
    public var shutdownTimeout = 30.0
    public var accessKeyId: String?
    public var accessKeySecret: String?
    public var securityToken: String?
    public var passwdFile: String?
    public var credentialsFile: String?
    public var ramRole: String?
    public var credentialProcess: String?
    /// RRSA (AssumeRoleWithOIDC); each also comes from its ALIBABA_CLOUD_* variable.
    public var roleArn: String?
    public var oidcProviderArn: String?
    public var oidcTokenFile: String?
    public var stsEndpoint: String?
    public var caBundle: String?
    public var insecure = false
    public var logLevel = "info"
    public var logFile: String?
    /// Size-based rotation of `log_file`: past this many bytes it moves to FILE.1 (and
    /// older ones up to FILE.`logMaxFiles`); 0: never rotated.
    public var logMaxSize = 64 << 20
    public var logMaxFiles = 8
    var logFormat = LogFormat.text
    /// The local data cache: its directory (nil: none) and most bytes.
    var cacheDir: String?
    var cacheSize = 10 << 30
    /// At mount, incomplete uploads older than this are logged (nil: not looked for).
    var staleUploadsAge: Double? = 86400
    /// Where Prometheus metrics are served (port 0: not served).
    var metricsAddress = MetricsAddress()
    /// Where Content-Types of new objects come from.
    public var mimeTypesFile = "/etc/mime.types"
    /// One line per option accepted without effect, or changed to fit.
    public var warnings: [String] = []
    /// Options handed to the kernel mount as they are.
    public var fuseOptions: [String] = []

    public init() {}

    /// Which credential source the mount will use, in the order Mounter.credentials tries
    /// them (secrets left out).
    public func credentialSource(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        func set(_ name: String) -> Bool { !(env[name] ?? "").isEmpty }
        var notes: [String] = []
        switch (accessKeyId, accessKeySecret) {
        case (_?, _?): return "access_key_id/access_key_secret options" + (securityToken == nil ? "" : " with security_token")
        case (_?, nil): notes.append("access_key_id without access_key_secret is not used")
        case (nil, _?): notes.append("access_key_secret without access_key_id is not used")
        case (nil, nil): break
        }
        let note = notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")"
        for id in ["OSS_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"] where set(id) { return "environment \(id)" + note }
        let rrsa = [(roleArn, "ALIBABA_CLOUD_ROLE_ARN"), (oidcProviderArn, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
                    (oidcTokenFile, "ALIBABA_CLOUD_OIDC_TOKEN_FILE")].map { $0.0 ?? env[$0.1] }
        if rrsa.allSatisfy({ !($0 ?? "").isEmpty }) {
            return "RRSA role \(rrsa[0]!) (AssumeRoleWithOIDC at \(stsEndpoint ?? env["ALIBABA_CLOUD_STS_ENDPOINT"] ?? "sts.aliyuncs.com"))" + note
        }
        let fm = FileManager.default
        if let credentialsFile { return "credentials_file \(credentialsFile)" + note }
        if fm.fileExists(atPath: "/mnt/.alibabacloud/credentials") { return "credentials file /mnt/.alibabacloud/credentials" + note }
        if let passwdFile { return "passwd_file \(passwdFile)" + note }
        if fm.fileExists(atPath: "/etc/passwd-ossfs") { return "passwd file /etc/passwd-ossfs" + note }
        if let ramRole { return "ram_role \(ramRole)" + note }
        if let credentialProcess { return "credential_process \(credentialProcess)" + note }
        return "none found" + note
    }

    /// The effective options, one `name=value` per line (secrets left out).
    public var summary: String {
        func flag(_ b: Bool) -> String { b ? "true" : "false" }
        func octal(_ n: UInt32) -> String {
            let digits = String(n, radix: 8)
            return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        let lines: [(String, String)] = [
            ("bucket", bucket), ("prefix", prefix), ("mountpoint", mountpoint), ("endpoint", endpoint ?? "-"),
            ("region", signingRegion ?? "-"),
            ("sigv", signatureVersion.map(String.init) ?? (signingRegion == nil ? "1" : "4")),
            ("ro", flag(readOnly)), ("allow_other", flag(allowOther)), ("nonempty", flag(nonempty)),
            ("uid", uid.map(String.init) ?? "caller"), ("gid", gid.map(String.init) ?? "caller"),
            ("attr_timeout", "\(attrTimeout)"),
            ("entry_timeout", "\(entryTimeout)"), ("negative_timeout", "\(negativeTimeout)"),
            ("max_stat_cache_size", "\(maxStatCacheSize)"),
            ("close_to_open", flag(closeToOpen)), ("readdirplus", flag(readdirplus)), ("kernel_cache", flag(kernelCache)),
            ("auto_cache", flag(autoCache)), ("direct_io", flag(directIO)), ("max_threads", "\(maxThreads)"),
            ("prefetch_chunk_size", "\(prefetchChunkSize)"), ("random_fill", "\(randomFill)"),
            ("prefetch_concurrency", "\(prefetchConcurrency) (in effect: \(prefetchBudget))"),
            ("prefetch_concurrency_per_file", "\(prefetchConcurrencyPerFile)"),
            ("total_mem_limit", "\(totalMemLimit) (pool: \(poolLimit))"), ("upload_buffer_size", "\(uploadBufferSize)"),
            ("upload_concurrency", "\(uploadConcurrency)"), ("staging_dir", stagingDir), ("staging_max", "\(stagingMax)"),
            ("ignore_fsync", flag(ignoreFsync)), ("seekable_writes", flag(seekableWrites)),
            ("seekable_max", seekableMax.map { "\($0)" } ?? "auto"),
            ("list_ahead", flag(listAhead)), ("xattr", flag(xattr)), ("append_mode", flag(appendMode)),
            ("append_flush_interval", "\(appendFlushInterval)"), ("shutdown_timeout", "\(shutdownTimeout)"), ("umask", octal(umask)),
            ("file_mode", octal(fileMode)), ("dir_mode", octal(dirMode)),
            ("insecure", flag(insecure)), ("ca_bundle", caBundle ?? "system"),
            ("log_level", logLevel), ("log_file", logFile ?? "-"), ("log_max_size", "\(logMaxSize)"),
            ("log_max_files", "\(logMaxFiles)"), ("log_format", logFormat.rawValue),
            ("cache_dir", cacheDir ?? "-"), ("cache_size", "\(cacheSize)"),
            ("stale_uploads_age", staleUploadsAge.map(UploadsCommand.ageText) ?? "off"), ("mime", mimeTypesFile),
            ("metrics_addr", "\(metricsAddress)" + (metricsAddress.port == 0 ? " (off)" : "")),
            ("credentials", credentialSource()),
        ]
        return lines.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
    }

    /// mount(8) and kernel options accepted as they are.
    static let passThrough: Set<String> = [
        "nodev", "nosuid", "exec", "noexec", "atime", "noatime", "relatime", "norelatime",
        "strictatime", "nodiratime", "sync", "async", "dirsync", "default_permissions", "auto_unmount",
    ]
    /// mount(8)/fstab words that mean nothing to the daemon.
    /// `dev` and `suid` too: mount.fuse3 adds them to every root mount, and a bucket must
    /// carry neither set-uid programs nor device files (ossmount always mounts nosuid,nodev).
    static let ignored: Set<String> = ["_netdev", "auto", "noauto", "user", "users", "nofail", "defaults", "rw", "nouser",
                                       "dev", "suid"]

    public static func parse(_ options: [(name: String, value: String?)], into config: inout MountConfig)
        throws(CommandLineError)
    {
        for (name, value) in options {
            try config.apply(name, value)
        }
    }

    static func bool(_ name: String, _ value: String?) throws(CommandLineError) -> Bool {
        switch value?.lowercased() {
        case nil, "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw CommandLineError("option \(name) takes true or false, not '\(value!)'")
        }
    }

    static func number(_ name: String, _ value: String?) throws(CommandLineError) -> Double {
        guard let value, let n = Double(value), n >= 0 else {
            throw CommandLineError("option \(name) needs a number of seconds, e.g. \(name)=60")
        }
        return n
    }

    static func integer(_ name: String, _ value: String?, radix: Int = 10) throws(CommandLineError) -> Int {
        guard let value, let n = Int(value, radix: radix), n >= 0 else {
            throw CommandLineError("option \(name) needs a whole number\(radix == 8 ? " in octal, e.g. 0644" : ""), not '\(value ?? "")'")
        }
        return n
    }

    /// An octal mode or mask, up to 7777.
    static func mode(_ name: String, _ value: String?) throws(CommandLineError) -> UInt32 {
        let n = try integer(name, value, radix: 8)
        guard n <= 0o7777 else { throw CommandLineError("option \(name) takes an octal mode up to 7777, not '\(value ?? "")'") }
        return UInt32(n)
    }

    /// A user or group id: 0 to 4294967294 (the all-ones value means "no id").
    static func id(_ name: String, _ value: String?) throws(CommandLineError) -> UInt32 {
        guard let n = UInt32(exactly: try integer(name, value)), n != UInt32.max else {
            throw CommandLineError("option \(name) takes an id from 0 to 4294967294, not '\(value ?? "")'")
        }
        return n
    }

    /// `8388608`, `8M`, `512MB`, `1G`, `64k`.
    static func size(_ name: String, _ value: String?) throws(CommandLineError) -> Int {
        guard var text = value?.uppercased(), !text.isEmpty else { throw CommandLineError("option \(name) needs a size, e.g. \(name)=8M") }
        if text.hasSuffix("B") { text.removeLast() }
        if text.hasSuffix("I") { text.removeLast() }
        var multiplier = 1
        switch text.last {
        case "K": multiplier = 1 << 10
        case "M": multiplier = 1 << 20
        case "G": multiplier = 1 << 30
        case "T": multiplier = 1 << 40
        default: break
        }
        if multiplier > 1 { text.removeLast() }
        guard let n = Int(text), n > 0 else { throw CommandLineError("option \(name): '\(value!)' is not a size like 8M or 1G") }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow, bytes <= 1 << 50 else { throw CommandLineError("option \(name): '\(value!)' is larger than any machine's memory or disk") }
        return bytes
    }

    static func string(_ name: String, _ value: String?) throws(CommandLineError) -> String {
        guard let value, !value.isEmpty else { throw CommandLineError("option \(name) needs a value: -o \(name)=...") }
        return value
    }

    mutating func apply(_ name: String, _ value: String?) throws(CommandLineError) {
        switch name {
        case "endpoint":
            let v = try Self.string(name, value)
            // ossfs 1.x's `endpoint` is a region name ("cn-hangzhou"); its URL is `url`.
            if !v.contains("."), !v.contains(":"), v.contains("-"), v.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }) {
                region = v
            } else {
                endpoint = v
            }
        case "region": region = try Self.string(name, value)
        // The bucket as ossfs 2.0 (oss_bucket, oss_bucket_prefix) and JindoFuse (uri) name it.
        case "oss_bucket": bucket = try Self.string(name, value)
        case "oss_bucket_prefix": prefix = MountCommand.normalizedPrefix(try Self.string(name, value))
        case "uri":
            let uri = try Self.string(name, value)
            guard uri.hasPrefix("oss://") else { throw CommandLineError("option uri takes oss://BUCKET/PREFIX/, not '\(uri)'") }
            (bucket, prefix) = MountCommand.splitTarget(uri)
        case "sigv":
            let v = try Self.integer(name, value)
            guard v == 1 || v == 4 else { throw CommandLineError("option sigv takes 1 or 4") }
            signatureVersion = v
        case "sigv4": signatureVersion = 4
        case "sigv1": signatureVersion = 1
        case "ro": readOnly = try Self.bool(name, value)
        case "allow_other": allowOther = try Self.bool(name, value)
        case "no_default_permissions": noDefaultPermissions = try Self.bool(name, value)
        case "nonempty": nonempty = try Self.bool(name, value)
        case "uid": uid = try Self.id(name, value)
        case "gid": gid = try Self.id(name, value)
        case "umask": umask = try Self.mode(name, value)
        case "file_mode": fileMode = try Self.mode(name, value)
        case "dir_mode": dirMode = try Self.mode(name, value)
        case "attr_timeout": attrTimeout = try Self.number(name, value)
        case "entry_timeout": entryTimeout = try Self.number(name, value)
        case "negative_timeout": negativeTimeout = try Self.number(name, value)
        case "max_stat_cache_size":
            maxStatCacheSize = try Self.integer(name, value)
            guard (0...10_000_000).contains(maxStatCacheSize) else {
                throw CommandLineError("option max_stat_cache_size takes 0 to 10000000 files")
            }
        case "close_to_open": closeToOpen = try Self.bool(name, value)
        case "readdirplus": readdirplus = try Self.bool(name, value)
        case "kernel_cache": kernelCache = try Self.bool(name, value)
        case "auto_cache": autoCache = try Self.bool(name, value)
        case "direct_io": directIO = try Self.bool(name, value)
        case "max_threads":
            maxThreads = try Self.integer(name, value)
            guard (1...1024).contains(maxThreads) else { throw CommandLineError("option max_threads takes 1 to 1024") }
        case "prefetch_chunk_size":
            prefetchChunkSize = try Self.size(name, value)
            guard (64 << 10...128 << 20).contains(prefetchChunkSize) else {
                throw CommandLineError("option prefetch_chunk_size takes 64K to 128M")
            }
        case "random_fill":
            randomFill = value == "0" ? 0 : try Self.size(name, value)
            guard randomFill == 0 || ((16 << 10)...(16 << 20)).contains(randomFill) && randomFill % 4096 == 0 else {
                throw CommandLineError("option random_fill takes 0 (off) or 16K to 16M, a multiple of 4K")
            }
        case "prefetch_concurrency":
            prefetchConcurrency = try clamped(name, value, 1...4096, zero: "keeps the default \(prefetchConcurrency)")
                ?? prefetchConcurrency
        case "prefetch_concurrency_per_file":
            prefetchConcurrencyPerFile = try clamped(name, value, 1...256) ?? prefetchConcurrencyPerFile
        case "upload_buffer_size":
            uploadBufferSize = try Self.size(name, value)
            guard (1 << 20...(5 << 30)).contains(uploadBufferSize) else {
                throw CommandLineError("option upload_buffer_size takes 1M to 5G")
            }
        case "upload_concurrency":
            uploadConcurrency = try clamped(name, value, 1...64) ?? uploadConcurrency
        case "staging_dir": stagingDir = try Self.string(name, value)
        case "staging_max": stagingMax = try Self.size(name, value)
        case "ignore_fsync": ignoreFsync = try Self.bool(name, value)
        case "seekable_writes": seekableWrites = try Self.bool(name, value)
        case "seekable_max": seekableMax = try Self.size(name, value)
        case "list_ahead": listAhead = try Self.bool(name, value)
        case "xattr": xattr = try Self.bool(name, value)
        case "append_mode": appendMode = try Self.bool(name, value)
        case "append_flush_interval": appendFlushInterval = try Self.number(name, value)
        case "shutdown_timeout": shutdownTimeout = try Self.number(name, value)
        case "total_mem_limit":
            if value == "0" {  // ossfs 2.0: no limit
                warnings.append("total_mem_limit=0: ossmount always bounds its memory; the default \(totalMemLimit >> 20)M stays")
                return
            }
            totalMemLimit = try Self.size(name, value)
            guard totalMemLimit >= 16 << 20 else { throw CommandLineError("option total_mem_limit must be at least 16M") }
        case "access_key_id": accessKeyId = try Self.string(name, value)
        case "access_key_secret": accessKeySecret = try Self.string(name, value)
        case "security_token": securityToken = try Self.string(name, value)
        case "passwd_file": passwdFile = try Self.string(name, value)
        case "credentials_file": credentialsFile = try Self.string(name, value)
        case "ram_role": ramRole = try Self.string(name, value)
        case "credential_process": credentialProcess = try Self.string(name, value)
        case "role_arn": roleArn = try Self.string(name, value)
        case "oidc_provider_arn": oidcProviderArn = try Self.string(name, value)
        case "oidc_token_file": oidcTokenFile = try Self.string(name, value)
        case "sts_endpoint": stsEndpoint = try Self.string(name, value)
        case "ca_bundle": caBundle = try Self.string(name, value)
        case "insecure": insecure = try Self.bool(name, value)
        case "log_level":
            let v = try Self.string(name, value).lowercased()
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                throw CommandLineError("option log_level takes trace, debug, info, notice, warning, error or critical")
            }
            logLevel = v
        case "log_file": logFile = try Self.string(name, value)
        case "log_max_size": logMaxSize = value == "0" ? 0 : try Self.size(name, value)
        case "log_max_files": logMaxFiles = try clamped(name, value, 1...100) ?? logMaxFiles
        case "cache_dir": cacheDir = try Self.string(name, value)
        case "cache_size":
            cacheSize = try Self.size(name, value)
            guard cacheSize >= 64 << 20 else { throw CommandLineError("option cache_size must be at least 64M") }
        case "stale_uploads_age":
            let v = try Self.string(name, value)
            staleUploadsAge = v == "off" ? nil : try UploadsCommand.age(v, option: name)
        case "log_format":
            guard let f = LogFormat(rawValue: try Self.string(name, value).lowercased()) else {
                throw CommandLineError("option log_format takes text or json")
            }
            logFormat = f
        case "mime": mimeTypesFile = try Self.string(name, value)
        case "metrics_addr": metricsAddress = try MetricsAddress.parse(try Self.string(name, value), over: metricsAddress)
        case "fsname", "subtype":
            fuseOptions.append("\(name)=\(try Self.string(name, value))")
        default:
            if Self.ignored.contains(name) || name.hasPrefix("x-systemd.") || name.hasPrefix("comment=") { return }
            if Self.passThrough.contains(name) {
                fuseOptions.append(name)
                return
            }
            if try applyPeer(name, value) { return }
            throw CommandLineError("unknown option '\(name)' (the options are listed in docs/CONFIGURATION.md)")
        }
    }

    /// A whole number in `range`; a larger one is lowered to its top with a warning (peers
    /// allow more). 0, where `zero` says what happens, is accepted with a warning: nil.
    mutating func clamped(_ name: String, _ value: String?, _ range: ClosedRange<Int>, zero: String? = nil)
        throws(CommandLineError) -> Int?
    {
        let n = try Self.integer(name, value)
        if n == 0, let zero {
            warnings.append("\(name)=0 \(zero)")
            return nil
        }
        guard n >= range.lowerBound else {
            throw CommandLineError("option \(name) takes \(range.lowerBound) to \(range.upperBound)")
        }
        if n > range.upperBound {
            warnings.append("\(name)=\(n) is more than ossmount uses; \(range.upperBound) it is")
            return range.upperBound
        }
        return n
    }

    /// An option of ossfs 2.0, ossfs 1.x or JindoFuse: applied as its ossmount meaning, or
    /// warned about. False when no peer has it either.
    mutating func applyPeer(_ name: String, _ value: String?) throws(CommandLineError) -> Bool {
        if name.hasPrefix("fs.") {
            guard let (options, warning) = PeerOptions.jindoKey(name, value ?? "") else {
                warnings.append("\(name) is not implemented by ossmount; ignored")
                return true
            }
            if let warning { warnings.append(warning) }
            for o in options { try apply(o.name, o.value) }
            return true
        }
        guard let peer = PeerOptions.table[name] else { return false }
        switch peer.effect {
        case .same(let ours): try apply(ours, value)
        case .convert(_, let convert): for o in try convert(value) { try apply(o.name, o.value) }
        case .ignored(let why): warnings.append("\(name) has no effect in ossmount (\(why)); ignored")
        }
        return true
    }
}
