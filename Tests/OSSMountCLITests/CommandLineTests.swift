// Command-line and config-file parsing: the forms users and mount(8) use, the
// errors that name what is wrong, and the PAI presets' meaning.
import Foundation
import Testing
@testable import OSSMountCLI

@Suite struct CommandLineTests {
    @Test func bucketPrefixAndOptionForms() throws {
        let a = try MountCommand.parse(["bkt:/data/train", "/mnt", "-o", "ro,attr_timeout=7200", "-oallow_other", "-f"])
        #expect(a.bucket == "bkt" && a.prefix == "data/train/" && a.mountpoint == "/mnt" && a.foreground)
        #expect(a.options.map(\.name) == ["ro", "attr_timeout", "allow_other"])
        #expect(a.options[1].value == "7200")
        let b = try MountCommand.parse(["oss://bkt/x", "/mnt"])
        #expect(b.bucket == "bkt" && b.prefix == "x/")
        let c = try MountCommand.parse(["bkt", "/mnt", "--config", "/etc/p.json"])
        #expect(c.prefix == "" && c.configFile == "/etc/p.json")
    }

    @Test func parentDirectoryOfAMountpoint() {
        #expect(Daemon.parentDirectory(of: "m") == ".")
        #expect(Daemon.parentDirectory(of: "a/m/") == "a")
        #expect(Daemon.parentDirectory(of: "/m") == "/")
        #expect(Daemon.parentDirectory(of: "/mnt/data//") == "/mnt")
        #expect(Daemon.parentDirectory(of: "/") == "/")
    }

    @Test func usageErrors() throws {
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["a", "b", "c"]) }
        #expect(try MountCommand.parse(["only-mountpoint"]).bucket.isEmpty)  // the bucket may come from -o uri=
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["b", "/m", "--bogus"]) }
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["b", "/m", "-o"]) }
    }

    @Test func optionsAreTypedAndCheckedByName() throws {
        var c = MountConfig()
        try MountConfig.parse(MountCommand.splitOptions("ro,uid=1000,umask=027,attr_timeout=2.5,prefetch_chunk_size=16M,total_mem_limit=2G,_netdev,dev,noexec,fsname=x"), into: &c)
        #expect(c.readOnly && c.uid == 1000 && c.umask == 0o027 && c.attrTimeout == 2.5)
        #expect(c.prefetchChunkSize == 16 << 20 && c.totalMemLimit == 2 << 30)
        #expect(c.fuseOptions == ["noexec", "fsname=x"])
        var w = MountConfig()
        try MountConfig.parse(MountCommand.splitOptions("append_mode,append_flush_interval=0.5,staging_dir=/var/tmp,staging_max=10G,ignore_fsync"), into: &w)
        #expect(w.appendMode && w.appendFlushInterval == 0.5 && w.stagingDir == "/var/tmp" && w.stagingMax == 10 << 30 && w.ignoreFsync)
        for bad in ["bogus=1", "attr_timeout=soon", "umask=9", "ro=maybe", "sigv=3", "prefetch_chunk_size=1G",
                    "append_flush_interval=-1", "staging_max=lots", "staging_dir="] {
            var d = MountConfig()
            #expect(throws: CommandLineError.self, "\(bad)") { try MountConfig.parse(MountCommand.splitOptions(bad), into: &d) }
        }
        var e = MountConfig()
        do {
            try MountConfig.parse(MountCommand.splitOptions("no_such_thing"), into: &e)
        } catch {
            #expect(error.description.contains("no_such_thing"))
        }
    }

    @Test func regionComesFromAnOSSEndpointName() throws {
        let cases: [(String, String?)] = [
            ("oss-cn-hangzhou.aliyuncs.com", "cn-hangzhou"),
            ("oss-cn-hangzhou-internal.aliyuncs.com", "cn-hangzhou"),
            ("https://oss-ap-southeast-1.aliyuncs.com", "ap-southeast-1"),
            ("http://oss-cn-beijing-internal.aliyuncs.com:80/", "cn-beijing"),
            ("oss-accelerate.aliyuncs.com", nil),
            ("http://127.0.0.1:9000", nil),
            ("s3.oss-cn-hangzhou.aliyuncs.com", nil),
        ]
        for (endpoint, region) in cases {
            var c = MountConfig()
            try MountConfig.parse(MountCommand.splitOptions("endpoint=\(endpoint)"), into: &c)
            #expect(c.signingRegion == region, "\(endpoint)")
            #expect(c.summary.contains("sigv=\(region == nil ? 1 : 4)"), "\(endpoint)")
        }
        var given = MountConfig()
        try MountConfig.parse(MountCommand.splitOptions("endpoint=oss-cn-hangzhou.aliyuncs.com,region=cn-shanghai"), into: &given)
        #expect(given.signingRegion == "cn-shanghai")  // an explicit region wins
    }

    @Test func paiJSONIsMapped() throws {
        let path = NSTemporaryDirectory() + "pai-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("""
            {"fs.oss.download.thread.concurrency": "Twice the number of CPU cores",
             "fs.jindo.args": "-oro -oattr_timeout=7200 -okernel_cache -ono_symlink",
             "fs.ossfs.args": "-onegative_timeout=0, -oclose_to_open",
             "fs.oss.read.readahead.buffer.size": "4194304",
             "fs.jindo.fuse.pod.mem.limit": "10Gi",
             "fs.oss.flush.interval.millisecond": "1000",
             "mountType": "ossfs", "endpoint": "http://127.0.0.1:9100", "readdirplus": false}
            """.utf8).write(to: URL(fileURLWithPath: path))
        let file = try ConfigFile.parse(path: path)
        var c = MountConfig()
        try MountConfig.parse(file.options, into: &c)
        #expect(c.readOnly && c.attrTimeout == 7200 && c.kernelCache && c.closeToOpen && c.negativeTimeout == 0)
        // "Twice the number of CPU cores" is the whole mount's prefetch budget, never below one
        // reader's depth, and memory caps it: 10 GiB / 4 MiB chunks.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(c.prefetchConcurrency == max(8, 2 * cores) && c.prefetchConcurrencyPerFile == 8)
        #expect(c.prefetchBudget == min(max(8, 2 * cores), 2560))
        #expect(c.prefetchChunkSize == 4 << 20 && c.totalMemLimit == 10 << 30)
        #expect(c.endpoint == "http://127.0.0.1:9100" && !c.readdirplus)
        #expect(c.warnings.contains { $0.contains("no_symlink") })
        #expect(c.appendFlushInterval == 1.0)
        #expect(!c.warnings.contains { $0.contains("fs.oss.flush.interval.millisecond") })
    }

    @Test func cpuScaledPresetsStayInsideTheMemoryLimit() throws {
        // 96 cores' "twice the cores" (192) with 1 GiB less 16 FUSE workers' 2 MiB, in 8 MiB
        // chunks with curl's 512 KiB each: 116 in flight at most.
        var c = MountConfig()
        try MountConfig.parse([("fs.oss.download.thread.concurrency", "192")], into: &c)
        #expect(c.poolLimit == (1 << 30) - (32 << 20))
        #expect(c.prefetchConcurrency == 192 && c.prefetchBudget == 116 && c.prefetchConcurrencyPerFile == 8)
        try MountConfig.parse([("total_mem_limit", "256M")], into: &c)
        #expect(c.prefetchBudget == 26)  // (256 - 32) MiB / 8.5 MiB
        // Two cores' 4 does not throttle one reader below its default depth.
        var small = MountConfig()
        try MountConfig.parse([("fs.oss.download.thread.concurrency", "4")], into: &small)
        #expect(small.prefetchBudget == 8)
    }

    /// A value each peer option takes, where "1" would not do.
    static let peerSamples: [String: String?] = [
        "oss_endpoint": "http://127.0.0.1:9100", "url": "https://oss-cn-beijing.aliyuncs.com", "host": "http://h:1",
        "oss_region": "cn-beijing", "log_dir": "/var/log/ossfs2/", "logfile": "/tmp/o.log", "tmpdir": "/data/tmp",
        "dbglevel": "warn", "oss_access_key_id": "AK", "oss_access_key_secret": "SK", "accessKeyId": "AK",
        "secretAccessKey": "SK", "ssl_verify_hostname": "0", "multipart_size": "64", "direct_read_chunk_size": "16",
        "parallel_count": "16", "fuse_threads": "64", "fuse_entry_timeout": "5", "stat_cache_expire": "900",
        "stat_cache_interval_expire": "300", "direct_read_prefetch_chunks": "32", "direct_read_prefetch_thread": "64",
        "prefetch_concurrency_per_file": "16", "oss_negative_cache_timeout": "30", "no_check_certificate": nil,
        "enable_appendable_object": nil, "use_xattr": nil, "disable_noobj_cache": nil, "ro_mount": nil,
        "no_xattr": nil, "noxattr": nil, "metrics_port": "9101", "metrics_ip": "127.0.0.2",
    ]

    @Test func everyPeerOptionIsMappedOrWarned() throws {
        #expect(PeerOptions.table.count > 140)
        for (name, option) in PeerOptions.table {
            var c = MountConfig()
            c.negativeTimeout = 7  // so that disable_noobj_cache changes it
            if name == "use_xattr" { c.xattr = false }
            let before = c.summary
            let value = Self.peerSamples[name] ?? "1"
            try c.apply(name, value)
            switch option.effect {
            case .ignored:
                #expect(c.warnings.count == 1 && c.warnings[0].hasPrefix(name + " has no effect"), "\(name)")
                #expect(c.summary == before, "\(name)")
            case .same, .convert:
                #expect(c.warnings.isEmpty, "\(name): \(c.warnings)")
                #expect(c.summary != before, "\(name) changed nothing")
            }
        }
        // Neither ossmount's nor a peer's: still an error that names it.
        var c = MountConfig()
        #expect(throws: CommandLineError.self) { try c.apply("prefetch_concurency", "8") }
        #expect(throws: CommandLineError.self) { try c.apply("fuse_thread", "8") }
    }

    @Test func peerValuesMeanWhatThePeerMeant() throws {
        var c = MountConfig()
        try MountConfig.parse(MountCommand.splitOptions(
            "multipart_size=64,direct_read_chunk_size=16,dbglevel=dbg,fuse_threads=256,endpoint=cn-shanghai,url=http://127.0.0.1:9,log_dir=/var/log/o/,fuse_entry_timeout=-1,upload_concurrency=128,total_mem_limit=0"),
            into: &c)
        #expect(c.uploadBufferSize == 64 << 20 && c.prefetchChunkSize == 16 << 20 && c.logLevel == "debug")
        #expect(c.maxThreads == 256 && c.region == "cn-shanghai" && c.endpoint == "http://127.0.0.1:9")
        #expect(c.logFile == "/var/log/o/ossmount.log" && c.entryTimeout == 60)
        #expect(c.uploadConcurrency == 64 && c.totalMemLimit == 1 << 30)
        #expect(c.warnings.count == 2)  // upload_concurrency lowered, total_mem_limit=0 kept at the default
    }

    @Test func ossfs1FstabLinesParse() throws {
        // As mount(8) hands them to the helper: BUCKET MOUNTPOINT -o OPTIONS.
        let lines = [
            "bkt:/data /mnt/oss -o _netdev,allow_other,url=https://oss-cn-hangzhou-internal.aliyuncs.com,passwd_file=/etc/passwd-ossfs,max_stat_cache_size=100000,use_cache=/tmp/ossfs,ensure_diskfree=20480,parallel_count=20,multipart_size=20,dbglevel=info,compat_dir,umask=022,uid=1000,gid=1000,mp_umask=022",
            "bkt /mnt/oss -o ro,noatime,stat_cache_expire=3600,readdir_optimize,direct_read,direct_read_chunk_size=8,sigv4,region=cn-hangzhou,nonempty",
        ]
        for line in lines {
            let cmd = try MountCommand.parse(line.split(separator: " ").map(String.init))
            var c = MountConfig()
            try MountConfig.parse(cmd.options, into: &c)
            #expect(cmd.bucket == "bkt" && cmd.mountpoint == "/mnt/oss")
            if line.contains("url=") {
                #expect(c.endpoint == "https://oss-cn-hangzhou-internal.aliyuncs.com" && c.signingRegion == "cn-hangzhou")
                #expect(c.uploadConcurrency == 20 && c.uploadBufferSize == 20 << 20 && c.uid == 1000 && c.allowOther)
                #expect(c.warnings.count == 3, "\(c.warnings)")  // ensure_diskfree compat_dir mp_umask
                #expect(c.maxStatCacheSize == 100_000)  // the stat cache beyond the kernel's
                #expect(c.cacheDir == "/tmp/ossfs")  // use_cache is the local data cache
            } else {
                #expect(c.readOnly && c.attrTimeout == 3600 && c.prefetchChunkSize == 8 << 20 && c.signatureVersion == 4)
            }
        }
    }

    @Test func ossfs2CommandFormAndFlagFile() throws {
        let path = NSTemporaryDirectory() + "ossfs2-\(UUID().uuidString).conf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("""
            # ossfs 2.0 configuration
            --oss_endpoint=https://oss-cn-hangzhou-internal.aliyuncs.com
            --oss_bucket=bkt
            --oss_bucket_prefix=datasets/imagenet
            --ro=true
            --attr_timeout=7200
            --fuse_threads=64
            --prefetch_concurrency=512
            --prefetch_concurrency_per_file=64
            --memory_data_cache_size=4G
            --bind_ips=10.0.0.1,10.0.0.2
            --log_dir=/var/log/ossfs2
            """.utf8).write(to: URL(fileURLWithPath: path))
        let cmd = try MountCommand.parse(["mount", "/mnt/oss", "-c", path, "--upload_buffer_size=33554432", "-f"])
        #expect(cmd.ossfs2Form && cmd.foreground && cmd.mountpoint == "/mnt/oss" && cmd.bucket.isEmpty)
        var c = MountConfig()
        try MountConfig.parse(try ConfigFile.parse(path: cmd.configFile!).options, into: &c)
        try MountConfig.parse(cmd.options, into: &c)
        #expect(c.bucket == "bkt" && c.prefix == "datasets/imagenet/" && c.readOnly && c.attrTimeout == 7200)
        #expect(c.signingRegion == "cn-hangzhou" && c.maxThreads == 64 && c.uploadBufferSize == 32 << 20)
        #expect(c.prefetchConcurrency == 512 && c.prefetchConcurrencyPerFile == 64)
        #expect(c.poolLimit == (1 << 30) - 64 * (2 << 20) && c.prefetchBudget == 105)  // 896 MiB / 8.5 MiB
        #expect(c.logFile == "/var/log/ossfs2/ossmount.log")
        #expect(c.warnings.count == 2, "\(c.warnings)")  // memory_data_cache_size, bind_ips
        let flagsOnly = try MountCommand.parse(["mount", "/m", "--oss_bucket=b", "--oss_endpoint=http://h:1", "--d"])
        #expect(flagsOnly.foreground && flagsOnly.options.map(\.name) == ["oss_bucket", "oss_endpoint", "log_level"])
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["mount", "b", "/m", "/x"]) }
    }

    @Test func jindoFuseForm() throws {
        let cmd = try MountCommand.parse(["/mnt/jindo", "-ouri=oss://bkt/train/", "-oro", "-ojindo_attr_timeout=60",
                                          "-ofs.oss.download.thread.concurrency=32"])
        var c = MountConfig()
        try MountConfig.parse(cmd.options, into: &c)
        #expect(c.bucket == "bkt" && c.prefix == "train/" && c.readOnly && c.prefetchConcurrency == 32)
        #expect(c.warnings.count == 1)
    }

    @Test func everyShippedPresetParses() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Configs/presets")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 4)
        for f in files {
            var c = MountConfig()
            try MountConfig.parse(try ConfigFile.parse(path: dir.appendingPathComponent(f).path).options, into: &c)
            if f.hasPrefix("static") { #expect(c.readOnly && c.attrTimeout == 7200) }
            if f.hasPrefix("consistent") { #expect(c.attrTimeout == 0 && c.entryTimeout == 0) }
        }
        // The ossfs 2.0 flag file in Configs/ parses with no warning.
        var o = MountConfig()
        let example = dir.deletingLastPathComponent().appendingPathComponent("ossfs2.conf.example").path
        try MountConfig.parse(try ConfigFile.parse(path: example).options, into: &o)
        #expect(o.bucket == "my-bucket" && o.prefix == "datasets/" && o.readOnly && o.maxThreads == 64 && o.warnings.isEmpty)
    }
}

/// docs/CONFIGURATION.md shows PeerOptions' table as it is: between its markers.
/// `OSSMOUNT_WRITE_DOCS=1 swift test --filter PeerOptionsDocTests` rewrites the block.
@Suite struct PeerOptionsDocTests {
    @Test func configurationDocShowsThePeerTable() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/CONFIGURATION.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let begin = "<!-- peer options: generated from Sources/OSSMountCLI/PeerOptions.swift -->\n"
        let start = try #require(text.range(of: begin))
        let stop = try #require(text.range(of: "<!-- end of peer options -->", range: start.upperBound..<text.endIndex))
        let block = String(text[start.upperBound..<stop.lowerBound])
        let expected = PeerOptions.markdown() + "\n"
        if ProcessInfo.processInfo.environment["OSSMOUNT_WRITE_DOCS"] == "1" {
            try (String(text[..<start.upperBound]) + expected + String(text[stop.lowerBound...]))
                .write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        #expect(block == expected, "run OSSMOUNT_WRITE_DOCS=1 swift test --filter PeerOptionsDocTests")
    }
}

@Suite struct LogFileTests {
    @Test func rotatesBySizeKeepingAtMostMaxFiles() throws {
        let dir = NSTemporaryDirectory() + "logs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ossmount.log"
        let log = try #require(LogFile(path: path, maxSize: 100, maxFiles: 2))
        for i in 0..<20 { log.write("line \(i) of the log, thirty b\n") }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["ossmount.log", "ossmount.log.1", "ossmount.log.2"])
        for n in names {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/" + n)[.size] as? Int)
            #expect(size <= 100, "\(n)")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("line 19 "))
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8).contains("line 16 "))
    }

    @Test func aBackgroundMountLogsToAFileNamedAfterItsMountpoint() {
        let root = getuid() == 0
        let expected = root ? "/var/log/ossmount/mnt-data-train.log" : "/.local/state/ossmount/mnt-data-train.log"
        #expect(OSSMount.defaultLogFile("/mnt/data/train").hasSuffix(expected))
        #expect(OSSMount.defaultLogFile("/mnt/x/").hasSuffix("/mnt-x.log"))
    }
}
