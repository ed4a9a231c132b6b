// Fault injection for reliability tests: `--faults 500=0.05,503=0.02,reset=0.01,
// slow=200ms@0.05,truncate=0.01`. Each request draws once, in order, from a
// seeded generator, so a seed replays the same faults for the same request
// sequence. Changeable at run time through PUT /-/osslocal/faults.
import Synchronization

public struct FaultSpec: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Answer with this status and an OSS error document, without doing the operation.
        case status(Int)
        /// Close the connection without answering.
        case reset
        /// Answer late.
        case slow(milliseconds: Int64)
        /// Send the headers and half the body, then close (GETs; others reset).
        case truncate
    }
    public var rules: [(kind: Kind, probability: Double)]

    public static func == (a: FaultSpec, b: FaultSpec) -> Bool { a.description == b.description }

    public init(rules: [(kind: Kind, probability: Double)] = []) { self.rules = rules }

    public init(parsing text: String) throws(FaultSpecError) {
        rules = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters() }) where !item.isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw FaultSpecError("'\(item)' is not NAME=PROBABILITY") }
            let name = String(kv[0]), value = String(kv[1])
            if name == "slow" {
                let parts = value.split(separator: "@")
                guard parts.count == 2, parts[0].hasSuffix("ms"), let ms = Int64(parts[0].dropLast(2)),
                    let p = Double(parts[1]), (0...1).contains(p)
                else { throw FaultSpecError("slow takes DURATIONms@PROBABILITY, e.g. slow=200ms@0.05") }
                rules.append((.slow(milliseconds: ms), p))
                continue
            }
            guard let p = Double(value), (0...1).contains(p) else {
                throw FaultSpecError("'\(value)' in '\(item)' is not a probability between 0 and 1")
            }
            switch name {
            case "reset": rules.append((.reset, p))
            case "truncate": rules.append((.truncate, p))
            default:
                guard let status = Int(name), (400...599).contains(status) else {
                    throw FaultSpecError("unknown fault '\(name)': use an HTTP status (500, 503, ...), reset, slow or truncate")
                }
                rules.append((.status(status), p))
            }
        }
    }

    public var description: String {
        rules.map { r in
            switch r.kind {
            case .status(let s): "\(s)=\(r.probability)"
            case .reset: "reset=\(r.probability)"
            case .truncate: "truncate=\(r.probability)"
            case .slow(let ms): "slow=\(ms)ms@\(r.probability)"
            }
        }.joined(separator: ",")
    }
}

public struct FaultSpecError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The current spec and the seeded generator that draws from it.
final class FaultInjector: Sendable {
    private let state: Mutex<(spec: FaultSpec, rng: UInt64, injected: Int)>

    init(spec: FaultSpec, seed: UInt64) { state = Mutex((spec, seed, 0)) }

    var spec: FaultSpec {
        get { state.withLock { $0.spec } }
        set { state.withLock { $0.spec = newValue } }
    }

    var injected: Int { state.withLock { $0.injected } }

    /// The fault for the next request, if any (at most one).
    func draw() -> FaultSpec.Kind? {
        state.withLock { s in
            guard !s.spec.rules.isEmpty else { return nil }
            var x = s.rng
            defer { s.rng = x }
            for rule in s.spec.rules {
                x &+= 0x9E37_79B9_7F4A_7C15
                var z = x
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                let u = Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
                if u < rule.probability {
                    s.injected += 1
                    return rule.kind
                }
            }
            return nil
        }
    }
}
