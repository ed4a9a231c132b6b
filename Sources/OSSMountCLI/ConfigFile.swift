// Config files: a JSON object whose keys are ossmount option names
// ({"endpoint": "...", "attr_timeout": 60, "ro": true}), or a PAI "Advanced
// Configuration" as users already have them (fs.jindo.args, fs.ossfs.args,
// mountType, fs.oss.* keys). PAI keys ossmount does not implement are warned
// about once and ignored; so are JindoFuse/ossfs -o flags it has no use for.
// Options on the command line override the file.
import Foundation

struct ConfigFile {
    /// What the file sets, in order, as -o options.
    var options: [(name: String, value: String?)] = []
    /// One line per ignored key or flag.
    var warnings: [String] = []

    /// JindoFuse and ossfs 2.0 flags that mean nothing to ossmount (accepted, ignored).
    static let foreignFlags: Set<String> = [
        "no_symlink", "no_flock", "no_writeback", "xengine", "pread", "jindo_entry_size",
        "jindo_attr_size", "jindo_entry_timeout", "jindo_attr_timeout", "max_idle_threads",
        "inode_cache_eviction_threshold", "inode_cache_eviction_interval_ms", "max_inode_cache_count",
        "enable_symlink", "oss_vcpu_count",
    ]

    /// "8", "Twice the number of CPU cores".
    static func count(_ value: String) -> String? {
        if Int(value) != nil { return value }
        let lower = value.lowercased()
        guard lower.contains("cpu cores") else { return nil }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let factor = lower.contains("twice") ? 2 : lower.contains("four times") ? 4 : 1
        return String(cores * factor)
    }

    /// "10Gi", "512Mi", "1G", bytes.
    static func size(_ value: String) -> String { value.replacingOccurrences(of: "i", with: "") }

    /// `-oro -oattr_timeout=7200`, `-oattr_timeout=3, -onegative_timeout=0`.
    static func flags(_ text: String) -> [(name: String, value: String?)] {
        text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" || $0 == "\n" }).flatMap { token in
            var t = Substring(token)
            if t.hasPrefix("-o") { t = t.dropFirst(2) } else if t.hasPrefix("-") { t = t.dropFirst() }
            return MountCommand.splitOptions(String(t))
        }
    }

    static func parse(path: String) throws(CommandLineError) -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandLineError("cannot read config file \(path)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CommandLineError("config file \(path) is not a JSON object")
        }
        var file = ConfigFile()
        for key in object.keys.sorted() {
            let raw = object[key]!
            let value: String = switch raw {
            case let b as Bool: b ? "true" : "false"
            case let n as NSNumber: n.stringValue
            case let s as String: s
            default: "\(raw)"
            }
            file.add(key: key, value: value, raw: raw)
        }
        return file
    }

    private mutating func foreign(_ flags: [(name: String, value: String?)], from key: String) {
        for f in flags {
            if Self.foreignFlags.contains(f.name) {
                warnings.append("\(key): -o\(f.name) has no effect in ossmount; ignored")
            } else {
                options.append(f)
            }
        }
    }

    private mutating func add(key: String, value: String, raw: Any) {
        switch key {
        case "fs.jindo.args", "fs.ossfs.args": foreign(Self.flags(value), from: key)
        case "mountType":
            if !["ossfs", "jindofuse", "jindo", "ossmount"].contains(value.lowercased()) {
                warnings.append("mountType \(value) is not known; ossmount mounts the same way whatever it says")
            }
        case "fs.oss.endpoint": options.append(("endpoint", value))
        case "fs.oss.region": options.append(("region", value))
        case "fs.oss.accessKeyId": options.append(("access_key_id", value))
        case "fs.oss.accessKeySecret": options.append(("access_key_secret", value))
        case "fs.oss.securityToken": options.append(("security_token", value))
        case "fs.oss.download.thread.concurrency", "fs.oss.download.async.concurrency",
            "fs.oss.read.readahead.buffer.count", "fs.oss.read.readahead.max.buffer.count":
            if let n = Self.count(value) {
                options.append(("prefetch_concurrency", String(min(256, max(1, Int(n)!)))))
            } else {
                warnings.append("\(key)=\(value) is not a number; ignored")
            }
        case "fs.oss.read.readahead.buffer.size", "fs.oss.read.buffer.size":
            options.append(("prefetch_chunk_size", Self.size(value)))
        case "fs.oss.upload.thread.concurrency", "fs.oss.upload.async.concurrency":
            if let n = Self.count(value) {
                options.append(("upload_concurrency", String(min(64, max(1, Int(n)!)))))
            } else {
                warnings.append("\(key)=\(value) is not a number; ignored")
            }
        case "fs.oss.blocklet.size.mb": options.append(("upload_buffer_size", value + "M"))
        case "fs.oss.append.enable": options.append(("append_mode", value))
        case "fs.oss.flush.interval.millisecond":
            if let ms = Double(value), ms >= 0 {
                options.append(("append_flush_interval", String(ms / 1000)))
            } else {
                warnings.append("\(key)=\(value) is not a number of milliseconds; ignored")
            }
        case "fs.oss.tmp.data.dirs":
            if let first = value.split(separator: ",").first { options.append(("staging_dir", String(first))) }
        case "fs.jindo.fuse.pod.mem.limit", "fs.oss.memory.buffer.size.max.mb":
            options.append(("total_mem_limit", key.hasSuffix(".mb") ? value + "M" : Self.size(value)))
        default:
            if key.hasPrefix("fs.") {
                warnings.append("\(key) is not implemented by ossmount; ignored")
            } else {
                // ossmount's own option names; `true` is a flag, `false` turns a flag off.
                options.append((key, raw is Bool ? (value == "true" ? nil : "false") : value))
            }
        }
    }
}
