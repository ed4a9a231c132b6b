// The credential chain (first source that has credentials wins) and the cache
// that keeps expiring credentials fresh. Refresh happens in the background from
// `refreshMargin` (at most a fifth of their lifetime) before expiry, so requests
// keep signing with the still-valid credentials meanwhile; only a caller holding
// nothing valid waits. A source that can tell it changed (a credentials file
// rewritten with a rotated key, with or without `Expiration`) is read again
// when it did, looked at no more than once a second; and a 403 that says the
// key is wrong makes the next request read the source again (`invalidate`).
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
        /// When `cached` was read, and the source's change stamp then.
        var loadedAt = 0.0
        var stamp: String?
        var checkedAt = 0.0
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

    /// The source changed since `cached` was read (checked at most once a second).
    private func changed(_ s: inout State, now: Double) -> Bool {
        guard s.cached != nil, now - s.checkedAt >= 1 else { return false }
        s.checkedAt = now
        guard let stamp = inner.changeStamp(), stamp != s.stamp else { return false }
        s.cached = nil
        return true
    }

    public func changeStamp() -> String? { inner.changeStamp() }

    public func invalidate() { state.withLock { $0.cached = nil } }

    /// The cached credentials while they need no refresh.
    private func fresh(_ s: inout State, now: Double) -> Credentials? {
        guard !changed(&s, now: now), let c = s.cached else { return nil }
        // Refresh from a fifth of the lifetime before expiry, at most refreshMargin.
        let lifetime = (c.expiration ?? now) - s.loadedAt
        return c.expires(within: min(refreshMargin, max(lifetime / 5, Self.expirySafety)), of: now) ? nil : c
    }

    public func credentialsNow() -> Credentials? {
        let now = clock.now()
        return state.withLock { fresh(&$0, now: now) }
    }

    public func credentials() async throws -> Credentials? {
        let now = clock.now()
        let (current, task): (Credentials?, Task<Credentials?, Error>?) = state.withLock { s in
            if let c = fresh(&s, now: now) { return (c, nil) }
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
            let stamp = inner.changeStamp()
            let fresh = try await inner.credentials()
            let now = clock.now()
            if let f = fresh, f.expires(within: Self.expirySafety, of: now) {
                throw ObjectStoreError.credentials("\(inner.sourceDescription): credentials are already expired")
            }
            state.withLock { s in
                s.cached = fresh
                s.loadedAt = now
                s.stamp = stamp
                s.checkedAt = now
            }
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

    public func invalidate() {
        if let i = chosen.withLock({ $0 }) { providers[i].invalidate() }
    }

    public func credentialsNow() -> Credentials? {
        chosen.withLock { $0 }.flatMap { providers[$0].credentialsNow() }
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
