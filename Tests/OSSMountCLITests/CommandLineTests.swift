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

    @Test func usageErrors() {
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["only-one"]) }
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["b", "/m", "--bogus"]) }
        #expect(throws: CommandLineError.self) { try MountCommand.parse(["b", "/m", "-o"]) }
    }

    @Test func optionsAreTypedAndCheckedByName() throws {
        var c = MountConfig()
        try MountConfig.parse(MountCommand.splitOptions("ro,uid=1000,umask=027,attr_timeout=2.5,prefetch_chunk_size=16M,total_mem_limit=2G,_netdev,dev,fsname=x"), into: &c)
        #expect(c.readOnly && c.uid == 1000 && c.umask == 0o027 && c.attrTimeout == 2.5)
        #expect(c.prefetchChunkSize == 16 << 20 && c.totalMemLimit == 2 << 30)
        #expect(c.fuseOptions == ["dev", "fsname=x"])
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
        #expect(c.prefetchConcurrency == min(256, 2 * ProcessInfo.processInfo.activeProcessorCount))
        #expect(c.prefetchChunkSize == 4 << 20 && c.totalMemLimit == 10 << 30)
        #expect(c.endpoint == "http://127.0.0.1:9100" && !c.readdirplus)
        #expect(file.warnings.contains { $0.contains("no_symlink") })
        #expect(c.appendFlushInterval == 1.0)
        #expect(!file.warnings.contains { $0.contains("fs.oss.flush.interval.millisecond") })
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
    }
}
