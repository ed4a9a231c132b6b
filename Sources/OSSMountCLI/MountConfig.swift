// MountConfig: every -o option, typed and checked. An unknown option is an error
// that names it; options that only mean something to mount(8) or the kernel are
// accepted and passed on. Defaults and equivalents: docs/CONFIGURATION.md.

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
    public var nonempty = false
    public var uid: UInt32?
    public var gid: UInt32?
    public var umask: UInt32 = 0o022
    public var fileMode: UInt32 = 0o644
    public var dirMode: UInt32 = 0o755
    public var attrTimeout = 60.0
    public var entryTimeout = 60.0
    public var negativeTimeout = 0.0
    public var closeToOpen = false
    public var readdirplus = true
    public var kernelCache = false
    public var autoCache = true
    public var directIO = false
    public var maxThreads = 16
    public var prefetchChunkSize = 8 << 20
    public var prefetchConcurrency = 8
    public var totalMemLimit = 1 << 30
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
    public var accessKeyId: String?
    public var accessKeySecret: String?
    public var securityToken: String?
    public var passwdFile: String?
    public var credentialsFile: String?
    public var ramRole: String?
    public var credentialProcess: String?
    public var caBundle: String?
    public var insecure = false
    public var logLevel = "info"
    public var logFile: String?
    /// Options handed to the kernel mount as they are.
    public var fuseOptions: [String] = []

    public init() {}

    /// The effective options, one `name=value` per line (secrets left out).
    public var summary: String {
        func flag(_ b: Bool) -> String { b ? "true" : "false" }
        let lines: [(String, String)] = [
            ("bucket", bucket), ("prefix", prefix), ("mountpoint", mountpoint), ("endpoint", endpoint ?? "-"),
            ("region", signingRegion ?? "-"),
            ("sigv", signatureVersion.map(String.init) ?? (signingRegion == nil ? "1" : "4")),
            ("ro", flag(readOnly)), ("allow_other", flag(allowOther)), ("attr_timeout", "\(attrTimeout)"),
            ("entry_timeout", "\(entryTimeout)"), ("negative_timeout", "\(negativeTimeout)"),
            ("close_to_open", flag(closeToOpen)), ("readdirplus", flag(readdirplus)), ("kernel_cache", flag(kernelCache)),
            ("auto_cache", flag(autoCache)), ("direct_io", flag(directIO)), ("max_threads", "\(maxThreads)"),
            ("prefetch_chunk_size", "\(prefetchChunkSize)"), ("prefetch_concurrency", "\(prefetchConcurrency)"),
            ("total_mem_limit", "\(totalMemLimit)"), ("upload_buffer_size", "\(uploadBufferSize)"),
            ("upload_concurrency", "\(uploadConcurrency)"), ("staging_dir", stagingDir), ("staging_max", "\(stagingMax)"),
            ("ignore_fsync", flag(ignoreFsync)), ("seekable_writes", flag(seekableWrites)),
            ("seekable_max", seekableMax.map { "\($0)" } ?? "auto"),
            ("list_ahead", flag(listAhead)), ("xattr", flag(xattr)), ("append_mode", flag(appendMode)),
            ("append_flush_interval", "\(appendFlushInterval)"), ("umask", String(umask, radix: 8)),
            ("file_mode", String(fileMode, radix: 8)), ("dir_mode", String(dirMode, radix: 8)),
            ("log_level", logLevel),
        ]
        return lines.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
    }

    /// mount(8) and kernel options accepted as they are.
    static let passThrough: Set<String> = [
        "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime", "relatime", "norelatime",
        "strictatime", "nodiratime", "sync", "async", "dirsync", "default_permissions", "auto_unmount",
    ]
    /// mount(8)/fstab words that mean nothing to the daemon.
    static let ignored: Set<String> = ["_netdev", "auto", "noauto", "user", "users", "nofail", "defaults", "rw", "nouser"]

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
        return n * multiplier
    }

    static func string(_ name: String, _ value: String?) throws(CommandLineError) -> String {
        guard let value, !value.isEmpty else { throw CommandLineError("option \(name) needs a value: -o \(name)=...") }
        return value
    }

    mutating func apply(_ name: String, _ value: String?) throws(CommandLineError) {
        switch name {
        case "endpoint", "url", "oss_endpoint": endpoint = try Self.string(name, value)
        case "region", "oss_region": region = try Self.string(name, value)
        case "sigv":
            let v = try Self.integer(name, value)
            guard v == 1 || v == 4 else { throw CommandLineError("option sigv takes 1 or 4") }
            signatureVersion = v
        case "sigv4": signatureVersion = 4
        case "sigv1": signatureVersion = 1
        case "ro": readOnly = try Self.bool(name, value)
        case "allow_other": allowOther = try Self.bool(name, value)
        case "nonempty": nonempty = try Self.bool(name, value)
        case "uid": uid = UInt32(try Self.integer(name, value))
        case "gid": gid = UInt32(try Self.integer(name, value))
        case "umask": umask = UInt32(try Self.integer(name, value, radix: 8)) & 0o7777
        case "file_mode": fileMode = UInt32(try Self.integer(name, value, radix: 8)) & 0o7777
        case "dir_mode": dirMode = UInt32(try Self.integer(name, value, radix: 8)) & 0o7777
        case "attr_timeout": attrTimeout = try Self.number(name, value)
        case "entry_timeout": entryTimeout = try Self.number(name, value)
        case "negative_timeout": negativeTimeout = try Self.number(name, value)
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
        case "prefetch_concurrency":
            prefetchConcurrency = try Self.integer(name, value)
            guard (1...256).contains(prefetchConcurrency) else { throw CommandLineError("option prefetch_concurrency takes 1 to 256") }
        case "upload_buffer_size":
            uploadBufferSize = try Self.size(name, value)
            guard (1 << 20...(5 << 30)).contains(uploadBufferSize) else {
                throw CommandLineError("option upload_buffer_size takes 1M to 5G")
            }
        case "upload_concurrency":
            uploadConcurrency = try Self.integer(name, value)
            guard (1...64).contains(uploadConcurrency) else { throw CommandLineError("option upload_concurrency takes 1 to 64") }
        case "staging_dir", "tmpdir": stagingDir = try Self.string(name, value)
        case "staging_max": stagingMax = try Self.size(name, value)
        case "ignore_fsync": ignoreFsync = try Self.bool(name, value)
        case "seekable_writes": seekableWrites = try Self.bool(name, value)
        case "seekable_max": seekableMax = try Self.size(name, value)
        case "list_ahead": listAhead = try Self.bool(name, value)
        case "xattr": xattr = try Self.bool(name, value)
        case "no_xattr", "noxattr": xattr = !(try Self.bool(name, value))
        case "append_mode", "enable_appendable_object": appendMode = try Self.bool(name, value)
        case "append_flush_interval": appendFlushInterval = try Self.number(name, value)
        case "total_mem_limit":
            totalMemLimit = try Self.size(name, value)
            guard totalMemLimit >= 16 << 20 else { throw CommandLineError("option total_mem_limit must be at least 16M") }
        case "access_key_id", "accessKeyId": accessKeyId = try Self.string(name, value)
        case "access_key_secret", "secretAccessKey": accessKeySecret = try Self.string(name, value)
        case "security_token": securityToken = try Self.string(name, value)
        case "passwd_file": passwdFile = try Self.string(name, value)
        case "credentials_file": credentialsFile = try Self.string(name, value)
        case "ram_role": ramRole = try Self.string(name, value)
        case "credential_process": credentialProcess = try Self.string(name, value)
        case "ca_bundle": caBundle = try Self.string(name, value)
        case "insecure", "no_check_certificate": insecure = try Self.bool(name, value)
        case "log_level":
            let v = try Self.string(name, value).lowercased()
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                throw CommandLineError("option log_level takes trace, debug, info, notice, warning, error or critical")
            }
            logLevel = v
        case "log_file", "logfile": logFile = try Self.string(name, value)
        case "fsname", "subtype":
            fuseOptions.append("\(name)=\(try Self.string(name, value))")
        default:
            if Self.ignored.contains(name) || name.hasPrefix("x-systemd.") || name.hasPrefix("comment=") { return }
            if Self.passThrough.contains(name) {
                fuseOptions.append(name)
                return
            }
            throw CommandLineError("unknown option '\(name)' (the options are listed in docs/CONFIGURATION.md)")
        }
    }
}
