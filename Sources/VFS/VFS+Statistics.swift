// What a running mount holds right now (sampled when metrics are read), and the
// read path's counters (swift-metrics; nothing is kept without a factory).
import CoreMetrics

public struct VFSStatistics: Sendable {
    /// Pool memory for prefetched chunks and staged parts: in use, the limit, and the most ever in use.
    public var memoryUsed = 0
    public var memoryLimit = 0
    public var memoryPeak = 0
    /// Bytes in staging files, and `staging_max` (0: none).
    public var stagingUsed: UInt64 = 0
    public var stagingLimit: UInt64 = 0
    public var prefetchInFlight = 0
    public var openFiles = 0
    public var openWriters = 0
    public var openDirectories = 0
    /// Writers whose object is on its way (streaming parts or appending).
    public var uploadsInFlight = 0
    public var inodes = 0
}

/// Reads served from prefetched chunks or by a GET of their own (prefetch hits and
/// misses); chunks loaded from the local data cache or fetched with it on (cache hits
/// and misses).
struct ReadMetrics: Sendable {
    let prefetchHits: Counter
    let prefetchMisses: Counter
    let cacheHits: Counter
    let cacheMisses: Counter

    init(factory: any MetricsFactory) {
        prefetchHits = Counter(label: "ossmount_prefetch_hits_total", factory: factory)
        prefetchMisses = Counter(label: "ossmount_prefetch_misses_total", factory: factory)
        cacheHits = Counter(label: "ossmount_cache_hits_total", factory: factory)
        cacheMisses = Counter(label: "ossmount_cache_misses_total", factory: factory)
    }
}

extension VFS {
    public var statistics: VFSStatistics {
        var s = VFSStatistics()
        s.memoryUsed = pool.used
        s.memoryLimit = pool.capacity
        s.memoryPeak = pool.peak
        s.stagingUsed = stagingBudget.used
        s.stagingLimit = stagingBudget.limit
        s.prefetchInFlight = prefetchBudget.used
        let writers = state.withLock { st in
            s.openFiles = st.files.count
            s.openDirectories = st.directories.count
            s.inodes = st.table.count
            return Array(st.writers.values)
        }
        s.openWriters = writers.count
        s.uploadsInFlight = writers.filter { w in
            switch w.phase {
            case .streaming, .appending: true
            default: false
            }
        }.count
        return s
    }
}
