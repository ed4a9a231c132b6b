// Options of the mounts users come from: ossfs 2.0, ossfs 1.x and JindoFuse (with
// the JindoSDK `fs.oss.*` keys PAI's presets and `-o` pass). Each is mapped to
// the ossmount option with its meaning, or accepted with one warning that names
// it and says why it has no effect. A name neither ossmount nor a peer knows is
// still an error. Options spelled the same in ossmount (ro, uid, attr_timeout,
// upload_buffer_size, ...) are ossmount's own and are not listed here.
// docs/CONFIGURATION.md, "Options of other mounts", is this table in prose.
import Foundation

struct PeerOption: Sendable {
    struct Peers: OptionSet, Sendable {
        let rawValue: Int
        static let ossfs2 = Peers(rawValue: 1)
        static let ossfs1 = Peers(rawValue: 2)
        static let jindo = Peers(rawValue: 4)
    }

    enum Effect: Sendable {
        /// The ossmount option of the same meaning, value as given.
        case same(String)
        /// A conversion of the value into ossmount options, and what it means (for the docs).
        case convert(String, @Sendable (String?) throws(CommandLineError) -> [(name: String, value: String?)])
        /// Accepted, with one warning giving the reason it does nothing here.
        case ignored(String)
    }

    let peers: Peers
    let effect: Effect
}

enum PeerOptions {
    typealias Converted = [(name: String, value: String?)]

    /// The per-file prefetch depth a whole-mount budget never goes below.
    static let perFileDefault = 8

    static func value(_ name: String, _ value: String?) throws(CommandLineError) -> String {
        guard let value, !value.isEmpty else { throw CommandLineError("option \(name) needs a value: -o \(name)=...") }
        return value
    }

    static func wholeNumber(_ name: String, _ value: String?) throws(CommandLineError) -> Int {
        guard let n = Int(try Self.value(name, value)) else {
            throw CommandLineError("option \(name) needs a whole number, not '\(value!)'")
        }
        return n
    }

    /// ossfs 1.x sizes in MB ("multipart_size=64") as an ossmount size.
    static func megabytes(_ to: String) -> PeerOption.Effect {
        .convert("`\(to)` (in MB)") { v throws(CommandLineError) in [(to, "\(try wholeNumber(to, v))M")] }
    }

    /// `-1` means "as the main timeout" in ossfs 2.0; anything else sets `to`.
    static func unlessMinusOne(_ to: String) -> PeerOption.Effect {
        .convert("`\(to)` (-1: unchanged)") { v throws(CommandLineError) in try Self.value(to, v) == "-1" ? [] : [(to, v)] }
    }

    static let table: [String: PeerOption] = {
        var t: [String: PeerOption] = [:]
        func add(_ peers: PeerOption.Peers, _ effect: PeerOption.Effect, _ names: String...) {
            for n in names { t[n] = PeerOption(peers: peers, effect: effect) }
        }
        let both: PeerOption.Peers = [.ossfs2, .ossfs1]
        // Same meaning under another name.
        add(.ossfs2, .same("endpoint"), "oss_endpoint")
        add(.ossfs2, .same("region"), "oss_region")
        add(.ossfs2, .same("access_key_id"), "oss_access_key_id")
        add(.ossfs2, .same("access_key_secret"), "oss_access_key_secret")
        add(.ossfs2, .same("max_threads"), "fuse_threads")
        add(.ossfs2, .same("append_mode"), "enable_appendable_object")
        add(.ossfs2, .same("negative_timeout"), "oss_negative_cache_timeout")
        add(.ossfs2, .same("prefetch_concurrency_per_file"), "prefetch_concurrency_per_file")
        add(.ossfs2, unlessMinusOne("entry_timeout"), "fuse_entry_timeout")
        add(.ossfs2, .convert("`log_file=DIR/ossmount.log`") { v throws(CommandLineError) in
            [("log_file", try Self.value("log_dir", v).replacingOccurrences(of: "/+$", with: "", options: .regularExpression)
                + "/ossmount.log")]
        }, "log_dir")
        add(.ossfs1, .same("endpoint"), "url", "host")
        add(.ossfs1, .same("staging_dir"), "tmpdir")
        add(.ossfs1, .same("log_file"), "logfile")
        add(.ossfs1, .same("insecure"), "no_check_certificate")
        add(.ossfs1, .same("access_key_id"), "accessKeyId")
        add(.ossfs1, .same("access_key_secret"), "secretAccessKey")
        add(.ossfs1, .same("xattr"), "use_xattr")
        add(.ossfs1, .same("upload_concurrency"), "parallel_count")
        add(.ossfs1, .same("attr_timeout"), "stat_cache_expire", "stat_cache_interval_expire")
        add(.ossfs1, .same("prefetch_concurrency_per_file"), "direct_read_prefetch_chunks")
        add(.ossfs1, .same("prefetch_concurrency"), "direct_read_prefetch_thread")
        add(.ossfs1, megabytes("upload_buffer_size"), "multipart_size")
        add(.ossfs1, megabytes("prefetch_chunk_size"), "direct_read_chunk_size")
        add(.ossfs1, .convert("`negative_timeout=0`") { _ in [("negative_timeout", "0")] }, "disable_noobj_cache")
        add(.ossfs1, .convert("`log_level` (crit, err, warn, info, dbg)") { v throws(CommandLineError) in
            switch try Self.value("dbglevel", v).lowercased() {
            case "crit", "critical": [("log_level", "critical")]
            case "err", "error": [("log_level", "error")]
            case "warn", "warning": [("log_level", "warning")]
            case "info": [("log_level", "info")]
            case "dbg", "debug": [("log_level", "debug")]
            default: throw CommandLineError("option dbglevel takes crit, err, warn, info or dbg")
            }
        }, "dbglevel")
        add(.ossfs1, .convert("0: `insecure`") { v in v == "0" ? [("insecure", nil)] : [] }, "ssl_verify_hostname")
        add(.jindo, .same("ro"), "ro_mount")
        add(.jindo, .convert("`xattr=false`") { v throws(CommandLineError) in
            [("xattr", try MountConfig.bool("no_xattr", v) ? "false" : "true")]
        }, "no_xattr", "noxattr")

        // Accepted; nothing to do in ossmount.
        add(.ossfs2, .ignored("ossmount has one attr_timeout for the kernel and its own cache"), "fuse_attr_timeout")
        add(.ossfs2, .ignored("symlinks are always on"), "enable_symlink")
        add(.ossfs2, .ignored("ossmount has no shared in-memory data cache; the page cache serves repeated reads"),
            "memory_data_cache_size")
        add(.ossfs2, .ignored("prefetch memory is bounded by total_mem_limit"), "prefetch_chunks",
            "min_reserved_buffer_size_per_file", "total_rw_mem_ratio")
        add(.ossfs2, .convert("`metrics_addr=:PORT` (0: off)") { v throws(CommandLineError) in
            [("metrics_addr", ":\(try wholeNumber("metrics_port", v))")]
        }, "metrics_port")
        add(.ossfs2, .convert("`metrics_addr=IP:`") { v throws(CommandLineError) in
            [("metrics_addr", try value("metrics_ip", v) + ":")]
        }, "metrics_ip")
        add(.ossfs2, .ignored("`ossmount stats MOUNTPOINT` reads a mount's counters; metrics_addr serves them"),
            "enable_admin_server")
        add(.ossfs2, .same("log_max_size"), "log_file_max_size")
        add(.ossfs2, .same("log_max_files"), "log_file_max_count")
        add(.ossfs2, .ignored("the kernel keeps no readdir cache of this mount"), "kernel_readdir_cache_timeout")
        add(.ossfs2, .ignored("inodes the kernel forgets are dropped; max_stat_cache_size keeps their attributes"), "inode_cache_eviction_threshold",
            "inode_cache_eviction_interval_ms", "max_inode_cache_count")
        add(.ossfs2, .ignored("no limit of its kind in ossmount"), "oss_negative_cache_size", "rename_dir_limit",
            "rename_dir_concurrency", "upload_copy_concurrency", "appendable_object_autoswitch_threshold",
            "seq_read_detect_count", "oss_vcpu_count", "max_list_ret_count", "oss_request_timeout_ms",
            "tc_max_latency_threshold_us")
        add(.ossfs2, .ignored("ossmount behaves this way always"), "allow_rename_dir", "sync_upload", "enable_crc64",
            "use_list_obj_v2", "cache_type", "allow_mark_dir_stale_recursively", "set_mime_for_rename_dst",
            "use_auth_cache", "enable_transmission_control", "skip_trim_options")
        add(.ossfs2, .ignored("not supported: requests go to the endpoint directly"), "http_proxy", "bind_ips")
        add(.ossfs2, .ignored("test and debugging switches of ossfs 2.0"), "enable_photon_logs",
            "enable_test_signal_handler")
        add(.ossfs1, .same("cache_dir"), "use_cache")
        add(.ossfs1, .ignored("cache_dir's blocks are checked and evicted by ossmount; it creates the directory"),
            "del_cache", "check_cache_dir_exist", "direct_read_local_file_cache_size_mb")
        add(.ossfs1, .ignored("ossmount reads and lists this way always"), "direct_read", "readdir_optimize",
            "readdir_check_size", "direct_read_prefetch_limit", "direct_read_backward_chunks", "listobjectsv2",
            "complement_stat", "compat_dir", "notsup_compat_dir", "use_path_request_style", "nomixupload",
            "noshallowcopyapi", "noxmlns", "nocopyapi", "norenameapi")
        add(.ossfs1, .ignored("staging is bounded by staging_max and seekable_max"), "ensure_diskfree",
            "free_space_ratio", "max_dirty_data", "fake_diskfree")
        add(.ossfs1, .ignored("multipart sizes come from upload_buffer_size"), "multipart_threshold",
            "multipart_copy_size", "singlepart_copy_limit", "nomultipart", "parallel_upload", "fd_page_size",
            "multireq_max")
        add(.ossfs1, .ignored("requests are retried with backoff on their own"), "retries", "connect_timeout",
            "readwrite_timeout")
        add(.ossfs1, .ignored("objects are written with the bucket's defaults"), "default_acl", "storage_class",
            "use_sse", "use_rrs", "ahbe_conf", "requester_pays", "enable_content_md5", "enable_unsigned_payload")
        add(.ossfs1, .ignored("not supported"), "public_bucket", "cloudbox_id", "credlib", "credlib_opts",
            "use_session_token", "servicepath", "upload_traffic_limit", "download_traffic_limit", "cipher_suites",
            "symlink_in_meta", "mp_umask", "bucket", "instance_name")
        add(.ossfs1, .ignored("names must be UTF-8, as OSS keys are; others get EILSEQ"), "use_wtf8")
        add(.ossfs1, .ignored("logging switches of ossfs 1.x"), "curldbg", "no_time_stamp_msg", "noua",
            "set_check_cache_sigusr1", "nodnscache", "nosscache", "skip_clean_statcache_on_ro_flush")
        add(.jindo, .ignored("ossmount has one attr_timeout and entry_timeout for the kernel and its cache"),
            "jindo_entry_timeout", "jindo_attr_timeout")
        add(.jindo, .ignored("JindoFuse cache and thread tuning"), "jindo_entry_size", "jindo_attr_size",
            "jindo_attr_async_concurrency", "jindo_attr_async_queue", "jindo_attr_async_wait_ms", "max_idle_threads",
            "xengine", "pread")
        add(.jindo, .ignored("symlinks, flock and writeback are always on"), "no_symlink", "no_flock", "no_writeback")
        return t
    }()

    /// Peers' names MountConfig itself takes (they set the bucket, or read a value two ways).
    static let handledByMountConfig: [(name: String, peers: PeerOption.Peers, meaning: String)] = [
        ("oss_bucket", .ossfs2, "the bucket"),
        ("oss_bucket_prefix", .ossfs2, "the prefix (`BUCKET:/PREFIX`)"),
        ("uri", .jindo, "`oss://BUCKET/PREFIX/`: the bucket and prefix"),
        ("endpoint", .ossfs1, "a region name (`cn-hangzhou`) sets `region`; a host or URL is the endpoint"),
    ]

    /// The table as docs/CONFIGURATION.md shows it (a test keeps the two the same).
    static func markdown() -> String {
        var rows: [(String, PeerOption.Peers, String)] = handledByMountConfig.map { ($0.name, $0.peers, $0.meaning) }
        for (name, option) in table {
            let meaning = switch option.effect {
            case .same(let ours): "`\(ours)`"
            case .convert(let text, _): text
            case .ignored(let why): "warns: " + why
            }
            rows.append((name, option.peers, meaning))
        }
        let lines = rows.sorted { $0.0 < $1.0 }.map { name, peers, meaning in
            let marks = [PeerOption.Peers.ossfs2, .ossfs1, .jindo].map { peers.contains($0) ? "✓" : "" }
            return "| `\(name)` | \(marks.joined(separator: " | ")) | \(meaning) |"
        }
        return (["| option | ossfs 2.0 | ossfs 1.x | JindoFuse | in ossmount |", "|---|---|---|---|---|"] + lines)
            .joined(separator: "\n")
    }

    /// JindoSDK keys (`fs.oss.*`, from a PAI configuration or `-o`), as ossmount options;
    /// nil when the key is not implemented.
    static func jindoKey(_ key: String, _ value: String) -> (options: Converted, warning: String?)? {
        switch key {
        case "fs.oss.endpoint": return ([("endpoint", value)], nil)
        case "fs.oss.region": return ([("region", value)], nil)
        case "fs.oss.accessKeyId": return ([("access_key_id", value)], nil)
        case "fs.oss.accessKeySecret": return ([("access_key_secret", value)], nil)
        case "fs.oss.securityToken": return ([("security_token", value)], nil)
        case "fs.oss.signer.version":
            return ["1", "4"].contains(value) ? ([("sigv", value)], nil) : ([], nil)
        case "fs.oss.download.thread.concurrency", "fs.oss.download.async.concurrency":
            // A whole-process thread count in JindoSDK: here the mount's prefetch budget,
            // never below one reader's default depth; total_mem_limit caps it further.
            guard let n = count(value) else { return ([], "\(key)=\(value) is not a number; ignored") }
            return ([("prefetch_concurrency", String(min(4096, max(perFileDefault, n))))], nil)
        case "fs.oss.read.readahead.buffer.count", "fs.oss.read.readahead.max.buffer.count":
            guard let n = count(value) else { return ([], "\(key)=\(value) is not a number; ignored") }
            return ([("prefetch_concurrency_per_file", String(min(256, max(1, n))))], nil)
        case "fs.oss.read.readahead.buffer.size", "fs.oss.read.buffer.size":
            return ([("prefetch_chunk_size", value.replacingOccurrences(of: "i", with: ""))], nil)
        case "fs.oss.upload.thread.concurrency", "fs.oss.upload.async.concurrency":
            guard let n = count(value) else { return ([], "\(key)=\(value) is not a number; ignored") }
            return ([("upload_concurrency", String(min(64, max(1, n))))], nil)
        case "fs.oss.blocklet.size.mb": return ([("upload_buffer_size", value + "M")], nil)
        case "fs.oss.append.enable": return ([("append_mode", value)], nil)
        case "fs.oss.flush.interval.millisecond":
            guard let ms = Double(value) else { return ([], "\(key)=\(value) is not a number of milliseconds; ignored") }
            return (ms >= 0 ? [("append_flush_interval", String(ms / 1000))] : [], nil)
        case "fs.oss.tmp.data.dirs":
            return (value.split(separator: ",").first.map { [("staging_dir", String($0))] } ?? [], nil)
        case "fs.jindo.fuse.pod.mem.limit", "fs.oss.memory.buffer.size.max.mb", "fs.oss.memory.pool.size.max.mb":
            return ([("total_mem_limit", key.hasSuffix(".mb") ? value + "M" : value.replacingOccurrences(of: "i", with: ""))],
                    nil)
        default: return nil
        }
    }

    /// "8", "Twice the number of CPU cores", "Four times the number of CPU cores".
    static func count(_ value: String) -> Int? {
        if let n = Int(value) { return n }
        let lower = value.lowercased()
        guard lower.contains("cpu cores") else { return nil }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let factor = lower.contains("twice") ? 2 : lower.contains("four times") ? 4 : 1
        return cores * factor
    }
}
