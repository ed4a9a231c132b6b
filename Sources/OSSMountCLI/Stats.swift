// `ossmount stats MOUNTPOINT [--watch [SECONDS]] [--raw]`: a running mount's
// counters, read from its root's `user.ossmount.stats` attribute (the same
// Prometheus text `metrics_addr` serves, without histogram buckets), printed as a
// summary; `--watch` prints it again every few seconds with rates.
import Foundation
import FuseKit
#if canImport(Glibc)
import Glibc
#endif

/// Prometheus text as samples: name, labels, value.
struct MetricSamples {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }
    var samples: [Sample] = []

    init(parsing text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let brace = series.firstIndex(of: "{") {
                name = String(series[..<brace])
                let inner = series[series.index(after: brace)...].dropLast()  // without "}"
                for pair in inner.split(separator: ",") {
                    guard let eq = pair.firstIndex(of: "=") else { continue }
                    labels[String(pair[..<eq])] = String(pair[pair.index(after: eq)...].dropFirst().dropLast())
                }
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    /// The sum of every sample of `name` whose labels include `match`.
    func sum(_ name: String, _ match: [String: String] = [:]) -> Double {
        samples.filter { s in s.name == name && match.allSatisfy { s.labels[$0.key] == $0.value } }
            .reduce(0) { $0 + $1.value }
    }

    /// The values the label `label` takes on `name`, sorted.
    func values(of label: String, in name: String) -> [String] {
        Array(Set(samples.filter { $0.name == name }.compactMap { $0.labels[label] })).sorted()
    }
}

enum StatsCommand {
    static let usage = "usage: ossmount stats MOUNTPOINT [--watch [SECONDS]] [--raw]"

    /// Whether `arguments` (after "stats") ask for stats: a mount of a bucket named
    /// "stats" needs options (-o, -c or --name=value), stats takes none.
    static func applies(_ arguments: [String]) -> Bool {
        !arguments.contains { $0.hasPrefix("-o") || $0 == "-c" || $0 == "--config" || $0.contains("=") }
    }

    static func run(_ arguments: [String]) -> Int32 {
        var watch: Double?
        var raw = false
        var mountpoint: String?
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--watch" || a == "-w" {
                watch = 2
                if i + 1 < arguments.count, let n = Double(arguments[i + 1]), n > 0 {
                    watch = n
                    i += 1
                }
            } else if a == "--raw" {
                raw = true
            } else if a.hasPrefix("-") || mountpoint != nil {
                return OSSMount.fail(usage, fd: nil)
            } else {
                mountpoint = a
            }
            i += 1
        }
        guard let mountpoint else { return OSSMount.fail(usage, fd: nil) }
        var previous: (MetricSamples, Double)?
        while true {
            let text: String
            switch read(mountpoint) {
            case .success(let t): text = t
            case .failure(let e): return OSSMount.fail(e.description, fd: nil)
            }
            let now = Date().timeIntervalSince1970
            let samples = MetricSamples(parsing: text)
            print(raw ? text : summary(samples, since: previous.map { ($0.0, now - $0.1) }, mountpoint: mountpoint))
            guard let watch else { return 0 }
            FileHandle.standardOutput.synchronizeFile()
            previous = (samples, now)
            usleep(UInt32(watch * 1_000_000))
        }
    }

    static func read(_ mountpoint: String) -> Result<String, CommandLineError> {
        guard let type = Mounter.mountedFilesystem(at: mountpoint) else {
            return .failure(CommandLineError("\(mountpoint) is not a mountpoint"))
        }
        guard type == "fuse.ossmount" || type == "fuse" else {
            return .failure(CommandLineError("\(mountpoint) is a \(type) mount, not an ossmount"))
        }
        switch ExtendedAttribute.read(mountpoint, name: MountMetrics.statsAttribute) {
        case .success(let bytes): return .success(String(decoding: bytes, as: UTF8.self))
        case .failure(let e):
            return .failure(CommandLineError("cannot read the counters of \(mountpoint): \(String(cString: strerror(e.errno)))"))
        }
    }

    static func size(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = bytes
        var u = 0
        while v >= 1024 && u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(Int(v)) B" : String(format: "%.1f %@", v, units[u])
    }

    /// The summary; with an earlier sample, rates since it.
    static func summary(_ m: MetricSamples, since earlier: (MetricSamples, Double)?, mountpoint: String) -> String {
        func perSecond(_ name: String, _ match: [String: String] = [:]) -> Double? {
            guard let (e, seconds) = earlier, seconds > 0 else { return nil }
            return (m.sum(name, match) - e.sum(name, match)) / seconds
        }
        func rate(_ name: String, _ match: [String: String] = [:]) -> String {
            perSecond(name, match).map { String(format: " %9.1f/s", $0) } ?? ""
        }
        func byteRate(_ name: String) -> String { perSecond(name).map { " (\(size($0))/s)" } ?? "" }
        var lines = ["ossmount \(mountpoint)"]
        let requests = "ossmount_oss_requests_total", latency = "ossmount_oss_request_duration_seconds"
        lines.append("  requests                     count   errors  retries   mean ms" + (earlier == nil ? "" : "        rate"))
        for op in m.values(of: "operation", in: requests) {
            let count = m.sum(requests, ["operation": op])
            let ok = m.samples.filter { $0.name == requests && $0.labels["operation"] == op && ($0.labels["status"] ?? "").hasPrefix("2") }
                .reduce(0) { $0 + $1.value }
            let seconds = m.sum(latency + "_sum", ["operation": op]), n = m.sum(latency + "_count", ["operation": op])
            lines.append(String(format: "  %-24@ %8.0f %8.0f %8.0f %9.1f", op, count, count - ok,
                                m.sum("ossmount_oss_retries_total", ["operation": op]), n > 0 ? seconds / n * 1000 : 0)
                         + rate(requests, ["operation": op]))
        }
        lines.append("  bytes             from OSS \(size(m.sum("ossmount_oss_received_bytes_total")))"
                     + byteRate("ossmount_oss_received_bytes_total")
                     + ", to OSS \(size(m.sum("ossmount_oss_sent_bytes_total")))" + byteRate("ossmount_oss_sent_bytes_total"))
        lines.append("  through FUSE      read \(size(m.sum("ossmount_fuse_read_bytes_total")))"
                     + byteRate("ossmount_fuse_read_bytes_total")
                     + ", written \(size(m.sum("ossmount_fuse_written_bytes_total")))" + byteRate("ossmount_fuse_written_bytes_total"))
        lines.append(String(format: "  prefetch          hits %.0f, misses %.0f, GETs in flight %.0f",
                            m.sum("ossmount_prefetch_hits_total"), m.sum("ossmount_prefetch_misses_total"),
                            m.sum("ossmount_prefetch_in_flight")))
        lines.append("  memory pool       \(size(m.sum("ossmount_memory_pool_used_bytes"))) of "
                     + "\(size(m.sum("ossmount_memory_pool_limit_bytes"))) (peak \(size(m.sum("ossmount_memory_pool_peak_bytes"))))"
                     + ", staging \(size(m.sum("ossmount_staging_used_bytes")))")
        lines.append(String(format: "  open              files %.0f, writers %.0f, directories %.0f; uploads in flight %.0f; inodes %.0f",
                            m.sum("ossmount_open_files"), m.sum("ossmount_open_writers"),
                            m.sum("ossmount_open_directories"), m.sum("ossmount_uploads_in_flight"), m.sum("ossmount_inodes")))
        let errors = m.samples.filter { $0.name == "ossmount_fuse_errors_total" }
            .map { "\($0.labels["errno"] ?? "?") \($0.labels["operation"] ?? "?") \(Int($0.value))" }.sorted()
        lines.append("  failed operations " + (errors.isEmpty ? "none" : errors.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }
}
