// The mount's metrics: one Prometheus registry that the client (requests, latency,
// retries, bytes), the read path (prefetch hits and misses) and the FUSE adapter
// (bytes read and written, failures by errno) count into through swift-metrics,
// plus gauges sampled from the VFS each time the text is asked for. Served on
// `metrics_addr` (MetricsServer) and as the root's `user.ossmount.stats`
// attribute, which `ossmount stats` reads.
import CoreMetrics
import FuseKit
import Prometheus
import VFS
#if canImport(Glibc)
import Glibc
#endif

final class MountMetrics: Sendable {
    /// The attribute of the mount's root that holds the metrics text.
    static let statsAttribute = "user.ossmount.stats"

    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let fuseReadBytes: CoreMetrics.Counter
    let fuseWrittenBytes: CoreMetrics.Counter

    private struct Gauges: Sendable {
        let memoryUsed, memoryLimit, memoryPeak, stagingUsed, stagingLimit: Prometheus.Gauge
        let prefetchInFlight, openFiles, openWriters, openDirectories, uploadsInFlight, inodes: Prometheus.Gauge
        let fillStored, fillDropped, fillRetracted: Prometheus.Gauge
    }
    private let gauges: Gauges
    /// Where `random_fill` stores pages (its counts are sampled like the gauges).
    private let kernelCache: FuseKernelCache?

    init(kernelCache: FuseKernelCache? = nil) {
        self.kernelCache = kernelCache
        factory = PrometheusMetricsFactory(registry: registry)
        fuseReadBytes = CoreMetrics.Counter(label: "ossmount_fuse_read_bytes_total", factory: factory)
        fuseWrittenBytes = CoreMetrics.Counter(label: "ossmount_fuse_written_bytes_total", factory: factory)
        let r = registry
        func gauge(_ name: String, _ unit: String, _ help: String) -> Prometheus.Gauge {
            r.makeGauge(descriptor: MetricNameDescriptor(namespace: "ossmount", metricName: name, unitName: unit, helpText: help))
        }
        gauges = Gauges(
            memoryUsed: gauge("memory_pool_used", "bytes", "Pool memory in use (prefetch chunks, parts)"),
            memoryLimit: gauge("memory_pool_limit", "bytes", "total_mem_limit"),
            memoryPeak: gauge("memory_pool_peak", "bytes", "Most pool memory ever in use"),
            stagingUsed: gauge("staging_used", "bytes", "Bytes in staging files"),
            stagingLimit: gauge("staging_limit", "bytes", "staging_max (0: none)"),
            prefetchInFlight: gauge("prefetch_in_flight", "", "Prefetch GETs in flight"),
            openFiles: gauge("open_files", "", "Open file handles"),
            openWriters: gauge("open_writers", "", "Open handles that write"),
            openDirectories: gauge("open_directories", "", "Open directory handles"),
            uploadsInFlight: gauge("uploads_in_flight", "", "Files whose upload has begun and not ended"),
            inodes: gauge("inodes", "", "Inodes the kernel holds"),
            fillStored: gauge("page_fill_stored", "bytes", "Bytes random_fill stored in the page cache so far"),
            fillDropped: gauge("page_fill_dropped", "", "Offers random_fill dropped so far (queue full, file changed)"),
            fillRetracted: gauge("page_fill_retracted", "", "Stores invalidated again: the file changed while stored"))
    }

    /// A failed operation, counted by its errno's name.
    func failed(_ operation: String, errno: Int32) {
        CoreMetrics.Counter(label: "ossmount_fuse_errors_total",
                            dimensions: [("operation", operation), ("errno", Self.errnoName(errno))], factory: factory)
            .increment()
    }

    /// The Prometheus text, the gauges read from `vfs` now.
    func render(_ vfs: VFS) -> String {
        let s = vfs.statistics
        let g = gauges
        g.memoryUsed.set(Double(s.memoryUsed))
        g.memoryLimit.set(Double(s.memoryLimit))
        g.memoryPeak.set(Double(s.memoryPeak))
        g.stagingUsed.set(Double(s.stagingUsed))
        g.stagingLimit.set(Double(s.stagingLimit))
        g.prefetchInFlight.set(Double(s.prefetchInFlight))
        g.openFiles.set(Double(s.openFiles))
        g.openWriters.set(Double(s.openWriters))
        g.openDirectories.set(Double(s.openDirectories))
        g.uploadsInFlight.set(Double(s.uploadsInFlight))
        g.inodes.set(Double(s.inodes))
        if let fill = kernelCache?.counted {
            g.fillStored.set(Double(fill.storedBytes))
            g.fillDropped.set(Double(fill.dropped))
            g.fillRetracted.set(Double(fill.invalidated))
        }
        return registry.emitToString()
    }

    /// The text without histogram buckets (their sums and counts stay): what the
    /// `user.ossmount.stats` attribute holds, well under the kernel's 64 KiB.
    func statsText(_ vfs: VFS) -> String {
        render(vfs).split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("_bucket{") }
            .joined(separator: "\n")
    }

    static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", EBADF: "EBADF", EAGAIN: "EAGAIN", EACCES: "EACCES",
            EBUSY: "EBUSY", EEXIST: "EEXIST", EXDEV: "EXDEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
            EFBIG: "EFBIG", ENOSPC: "ENOSPC", ESPIPE: "ESPIPE", EROFS: "EROFS", ERANGE: "ERANGE",
            ENAMETOOLONG: "ENAMETOOLONG", ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ENODATA: "ENODATA",
            EOPNOTSUPP: "EOPNOTSUPP", ESTALE: "ESTALE", ECANCELED: "ECANCELED", E2BIG: "E2BIG", EINTR: "EINTR",
            ETIMEDOUT: "ETIMEDOUT", ENOTCONN: "ENOTCONN", ENOMEM: "ENOMEM",
        ]
        return names[e] ?? String(e)
    }
}
