// The credential chain (first source that has credentials wins) and the cache
// that keeps expiring credentials fresh. Refresh happens in the background from
// `refreshMargin` before expiry, so requests keep signing with the still-valid
// credentials meanwhile; only a caller holding nothing valid waits.
import Logging
import ObjectStore
import Synchronization

public final class CachingCredentialsProvider: CredentialsProvider {
    let inner: CredentialsProvider
    let clock: ClientClock
    let refreshMargin: Double
    let logger: Logger
    public var sourceDescription: String { inner.sourceDescription }

    private struct State {
        var cached: Credentials?
        var refresh: Task<Credentials?, Error>?
    }
    private let state = Mutex(State())

    /// Credentials are treated as expired this close to their expiry: a request signed
    /// now must still be valid when the server checks it.
    static let expirySafety = 10.0

    /// `refreshMargin`: ECS and PAI hand out tokens valid for hours and rotate them well
    /// before the end; 5 minutes leaves room for several failed refresh attempts.
    public init(_ inner: CredentialsProvider, clock: ClientClock = .system, refreshMargin: Double = 300,
                logger: Logger = Logger(label: "ossmount.credentials")) {
        self.inner = inner
        self.clock = clock
        self.refreshMargin = refreshMargin
        self.logger = logger
    }

    public func credentials() async throws -> Credentials? {
        let now = clock.now()
        let (current, task): (Credentials?, Task<Credentials?, Error>?) = state.withLock { s in
            if let c = s.cached, !c.expires(within: refreshMargin, of: now) { return (c, nil) }
            if s.refresh == nil { s.refresh = Task { try await self.reload() } }
            let valid = s.cached.flatMap { $0.expires(within: Self.expirySafety, of: now) ? nil : $0 }
            return (valid, s.refresh)
        }
        if let current { return current }  // fresh, or still valid while a refresh runs
        return try await task!.value
    }

    private func reload() async throws -> Credentials? {
        defer { state.withLock { $0.refresh = nil } }
        do {
            let fresh = try await inner.credentials()
            if let f = fresh, f.expires(within: Self.expirySafety, of: clock.now()) {
                throw ObjectStoreError.credentials("\(inner.sourceDescription): credentials are already expired")
            }
            state.withLock { $0.cached = fresh }
            return fresh
        } catch {
            logger.warning("credential refresh failed", metadata: ["source": "\(inner.sourceDescription)",
                                                                    "error": "\(error)"])
            throw error
        }
    }
}

/// Tries each source in order; the first that has credentials is used from then on.
public final class CredentialsChain: CredentialsProvider {
    let providers: [CredentialsProvider]
    private let chosen = Mutex<Int?>(nil)

    public init(_ providers: [CredentialsProvider]) { self.providers = providers }

    public var sourceDescription: String {
        if let i = chosen.withLock({ $0 }) { return providers[i].sourceDescription }
        return "credential chain"
    }

    public func credentials() async throws -> Credentials? {
        if let i = chosen.withLock({ $0 }) { return try await providers[i].credentials() }
        var tried: [String] = []
        for (i, p) in providers.enumerated() {
            do {
                if let c = try await p.credentials() {
                    chosen.withLock { $0 = i }
                    return c
                }
                tried.append("\(p.sourceDescription): not set")
            } catch {
                tried.append("\(error)")
            }
        }
        throw ObjectStoreError.credentials(
            "no usable credentials; tried: " + (tried.isEmpty ? "no sources configured" : tried.joined(separator: "; ")))
    }
}
