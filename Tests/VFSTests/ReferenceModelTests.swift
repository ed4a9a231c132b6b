// Tier 2: seeded random sequences of filesystem operations (and changes made by
// another client straight to the store) run against the VFS without a kernel,
// checked after every step against a plain model of the expected tree and bytes.
// Every other seed runs through a FaultInjectingClient: a step may have one store
// call fail (before it reaches the store, or after: the answer lost), and a step
// that fails must leave one of the states it may leave (before, after, an
// fsync'ed prefix, both names of a rename), never another. Each step draws from
// its own generator (seed, index), faults included, so any subset of steps
// replays the same way: a failure is shrunk to a minimal list of steps, which is
// printed with its seed.
import ObjectStore
import ObjectStoreTesting
import Testing
@testable import VFS

struct Model {
    var files: [String: [UInt8]] = [:]
    var dirs: Set<String> = []  // explicit directories (markers)

    func isDir(_ p: String) -> Bool {
        dirs.contains(p) || files.keys.contains { $0.hasPrefix(p + "/") } || dirs.contains { $0.hasPrefix(p + "/") }
    }
    func exists(_ p: String) -> Bool { files[p] != nil || isDir(p) }
    /// This model with file `p` holding `bytes` (nil: removed).
    func with(_ p: String, _ bytes: [UInt8]?) -> Model {
        var m = self
        m.files[p] = bytes
        return m
    }
    func children(_ p: String) -> Set<String> {
        let prefix = p.isEmpty ? "" : p + "/"
        var out = Set<String>()
        for k in Array(files.keys) + Array(dirs) where k.hasPrefix(prefix) && k != p {
            out.insert(String(k.dropFirst(prefix.count).split(separator: "/")[0]))
        }
        return out
    }
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            var word = next()
            for _ in 0..<min(8, n - i) {
                out[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return out
    }
}

final class Harness {
    let store = InMemoryObjectStore()
    /// Between the VFS and the store: faults for the seeds that have them.
    let faults: FaultInjectingClient
    let vfs: VFS
    var model = Model()
    let seed: UInt64
    var rng: SplitMix
    var log: [String] = []
    let time = ManualTime()
    /// Whether uploaded parts are kept for seek-backs (off for every fourth seed).
    let seekable: Bool
    /// Whether steps may have a store call fail.
    let faulty: Bool
    /// The tree the running step leaves when it succeeds, and other trees it may leave
    /// when a fault stops it midway (set by the step before its first VFS call).
    var intended: Model?
    var partial: [Model] = []

    init(seed: UInt64, faulty: Bool = false) {
        self.seed = seed
        self.faulty = faulty
        rng = SplitMix(state: seed)
        seekable = seed % 4 != 0
        faults = FaultInjectingClient(store, seed: seed)
        var config = VFSConfig()
        config.attrTimeout = 0
        config.entryTimeout = 0
        config.negativeTimeout = 0
        config.readOnly = false
        config.uploadBufferSize = 1 << 20
        config.prefetchChunkSize = 64 << 10
        config.stagingDirectory = "/tmp"
        config.seekableWrites = seekable
        config.mimeTypesFile = nil
        vfs = VFS(client: faults, config: config, clock: time.clock)
    }

    /// Store calls a fault may hit.
    static let faultable: [ObjectOperation] = [
        .head, .get, .put, .list, .delete, .copy, .initiateMultipart, .uploadPart, .uploadPartCopy, .completeMultipart,
    ]

    /// Runs step `index` (its own generator, its own fault); nil when it left a tree the
    /// model allows, else what went wrong.
    func run(step index: Int) async -> String? {
        rng = SplitMix(state: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03)
        var fault = ""
        if faulty && rng.int(3) == 0 {
            let op = Self.faultable[rng.int(Self.faultable.count)]
            let after = rng.int(2) == 0
            faults.failNext(op, with: .service(ServiceError(status: 503, code: "ServiceUnavailable")), afterCall: after)
            fault = " [fault: \(op)\(after ? " after the call" : "")]"
        }
        let before = model
        let injected = faults.faultsInjected
        intended = nil
        partial = []
        do {
            log.append("\(index): " + (try await step()) + fault)
            faults.clearQueued()  // a fault the step did not reach must not hit the check
        } catch {
            log.append("\(index): failed with \(error)" + fault)
            faults.clearQueued()
            guard faults.faultsInjected > injected, case .io = error as? VFSError else {
                return "step \(index) failed without a fault: \(error)"
            }
            // Stopped by the fault: the tree must be one the step may leave.
            for candidate in [before] + (intended.map { [$0] } ?? []) + partial {
                model = candidate
                if let wrong = try? await mismatches(), wrong.isEmpty { return nil }
            }
            model = before
            return "step \(index) left a tree it may not leave: \((try? await mismatches()) ?? [])"
        }
        do {
            let wrong = try await mismatches()
            return wrong.isEmpty ? nil : "\(wrong)"
        } catch {
            return "check failed: \(error)"
        }
    }

    func resolve(_ path: String) async throws(VFSError) -> InodeNumber {
        var ino: InodeNumber = 1
        for part in path.split(separator: "/") { ino = try await vfs.lookup(parent: ino, name: String(part)).attributes.ino }
        return ino
    }

    func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    func randomPath(depth: Int = 2) -> String {
        (0...rng.int(depth)).map { _ in ["a", "b", "c"][rng.int(3)] }.joined(separator: "/")
    }

    /// An existing file or directory path, or a fresh random one.
    func pick(files: Bool) -> String? {
        let pool = files ? Array(model.files.keys) : Array(model.dirs) + model.files.keys.compactMap { k in
            k.contains("/") ? String(k[..<k.lastIndex(of: "/")!]) : nil
        }
        return pool.isEmpty ? nil : pool.sorted()[rng.int(pool.count)]
    }

    func writeFile(_ path: String, _ bytes: [UInt8], patch: (Int, [UInt8])? = nil) async throws(VFSError) {
        let (dir, name) = split(path)
        let parent = try await resolve(dir)
        let (_, h) = try await vfs.create(parent: parent, name: name, mode: 0o644)
        // As a program does: a failed write, then close; close's error is the one that counts.
        var failedWrite: VFSError?
        do {
            _ = try await vfs.write(h, offset: 0, bytes: bytes)
            if let (off, b) = patch { _ = try await vfs.write(h, offset: Int64(off), bytes: b) }
        } catch {
            failedWrite = error
        }
        try await released(h) { () async throws(VFSError) in try await vfs.flush(h) }
        if let failedWrite { throw failedWrite }
    }

    /// Runs `body` on handle `h`, then releases it whatever happened.
    func released(_ h: UInt64, _ body: () async throws(VFSError) -> Void) async throws(VFSError) {
        do {
            try await body()
        } catch {
            await vfs.release(h)
            throw error
        }
        await vfs.release(h)
    }

    func parentOK(_ path: String) -> Bool {
        let (dir, _) = split(path)
        return dir.isEmpty || (model.isDir(dir) && !model.files.keys.contains { dir == $0 || dir.hasPrefix($0 + "/") })
    }

    /// One random step; returns the description.
    func step() async throws -> String {
        switch rng.int(13) {
        case 0, 1:  // create a new file (or overwrite one) front to back
            let p = randomPath()
            guard parentOK(p), !model.isDir(p) else { return "skip create" }
            var bytes = rng.bytes(rng.int(3) == 0 ? 1_500_000 : rng.int(5000))
            // Sometimes a header patched after the body went out (zip, checkpoint writers).
            let patch = rng.int(4) == 0 && bytes.count > 8 ? (rng.int(bytes.count - 8), rng.bytes(8)) : nil
            var patched = bytes
            if let (off, b) = patch { patched.replaceSubrange(off..<(off + 8), with: b) }
            intended = model.with(p, patched)
            partial = [model.with(p, bytes)]
            do {
                try await writeFile(p, bytes, patch: patch)
            } catch {
                guard error == .notSupported, !seekable else { throw error }
                model.files[p] = bytes
                return "create \(p) \(bytes.count), patch ENOTSUP"
            }
            if let (off, b) = patch { bytes.replaceSubrange(off..<(off + 8), with: b) }
            model.files[p] = bytes
            return "create \(p) \(bytes.count)" + (patch.map { " patch@\($0.0)" } ?? "")
        case 2:  // edit an existing file in place (staging)
            guard let p = pick(files: true) else { return "skip edit" }
            let old = model.files[p]!
            let off = rng.int(old.count + 10)
            let patch = rng.bytes(1 + rng.int(300))
            var new = old
            if new.count < off + patch.count { new += [UInt8](repeating: 0, count: off + patch.count - new.count) }
            new.replaceSubrange(off..<(off + patch.count), with: patch)
            intended = model.with(p, new)
            let ino = try await resolve(p)
            let (h, _) = try await vfs.open(ino, writable: true, truncate: false)
            try await released(h) { () async throws(VFSError) in
                _ = try await vfs.write(h, offset: Int64(off), bytes: patch)
                try await vfs.flush(h)
            }
            model.files[p] = new
            return "edit \(p) at \(off) +\(patch.count)"
        case 3:  // truncate
            guard let p = pick(files: true) else { return "skip truncate" }
            let size = rng.int(2) == 0 ? 0 : rng.int(model.files[p]!.count + 100)
            var new = model.files[p]!
            if size < new.count { new = Array(new[..<size]) } else { new += [UInt8](repeating: 0, count: size - new.count) }
            intended = model.with(p, new)
            let ino = try await resolve(p)
            let (h, _) = try await vfs.open(ino, writable: true, truncate: false)
            try await released(h) { () async throws(VFSError) in
                _ = try await vfs.setattr(ino, AttributeChange(size: UInt64(size)), handle: h)
                try await vfs.flush(h)
            }
            model.files[p] = new
            return "truncate \(p) \(size)"
        case 4:  // unlink
            guard let p = pick(files: true) else { return "skip unlink" }
            let (dir, name) = split(p)
            intended = model.with(p, nil)
            try await vfs.unlink(parent: try await resolve(dir), name: name)
            model.files[p] = nil
            return "unlink \(p)"
        case 5:  // mkdir
            let p = randomPath()
            guard parentOK(p) else { return "skip mkdir" }
            let (dir, name) = split(p)
            var made = model
            made.dirs.insert(p)
            intended = made
            do {
                _ = try await vfs.mkdir(parent: try await resolve(dir), name: name, mode: 0o755)
                if model.exists(p) { Issue.record("mkdir \(p) succeeded over an existing name after \(log)") }
                model.dirs.insert(p)
            } catch {
                if case .io = error { throw error }  // a fault: judged by the caller
                if !(error == .exists && model.exists(p)) { Issue.record("mkdir \(p): \(error) after \(log)") }
            }
            return "mkdir \(p)"
        case 6:  // rmdir
            guard let p = pick(files: false), model.isDir(p) else { return "skip rmdir" }
            let (dir, name) = split(p)
            var removed = model
            removed.dirs.remove(p)
            intended = removed
            do {
                try await vfs.rmdir(parent: try await resolve(dir), name: name)
                if !model.children(p).isEmpty { Issue.record("rmdir \(p) removed a non-empty directory after \(log)") }
                model.dirs.remove(p)
            } catch {
                if case .io = error { throw error }  // a fault: judged by the caller
                if !(error == .notEmpty && !model.children(p).isEmpty) { Issue.record("rmdir \(p): \(error) after \(log)") }
            }
            return "rmdir \(p)"
        case 7:  // rename a file to a fresh name
            guard let p = pick(files: true) else { return "skip rename" }
            let q = randomPath()
            guard parentOK(q), !model.isDir(q), !q.hasPrefix(p + "/"), q != p else { return "skip rename" }
            let (d1, n1) = split(p), (d2, n2) = split(q)
            intended = model.with(q, model.files[p]).with(p, nil)
            partial = [model.with(q, model.files[p])]  // copied, not yet deleted: both names
            try await vfs.rename(parent: try await resolve(d1), name: n1, newParent: try await resolve(d2), newName: n2,
                                 noReplace: false, exchange: false)
            model.files[q] = model.files.removeValue(forKey: p)
            return "rename \(p) -> \(q)"
        case 8:  // another client writes
            let p = randomPath()
            guard parentOK(p), !model.isDir(p) else { return "skip remote put" }
            let bytes = rng.bytes(rng.int(3000))
            _ = try await store.putObject(p, bytes: bytes)
            model.files[p] = bytes
            return "remote put \(p)"
        case 9:  // another client deletes
            guard let p = pick(files: true) else { return "skip remote delete" }
            try await store.deleteObject(p)
            model.files[p] = nil
            return "remote delete \(p)"
        case 10:  // append at the end (continuing the object), maybe fsync between, maybe seek back
            guard let p = pick(files: true) else { return "skip append" }
            let ino = try await resolve(p)
            let (h, _) = try await vfs.open(ino, writable: true, truncate: false)
            var new = model.files[p]!
            var what = "append \(p)"
            try await released(h) { () async throws(VFSError) in
            for _ in 0..<(1 + rng.int(3)) {
                let bytes = rng.bytes(rng.int(4) == 0 ? 700_000 : 1 + rng.int(2000))
                new += bytes
                intended = model.with(p, new)
                _ = try await vfs.write(h, offset: Int64(new.count - bytes.count), bytes: bytes)
                what += " +\(bytes.count)"
                if rng.int(3) == 0 {
                    try await vfs.fsync(h)
                    partial.append(model.with(p, new))  // stored by the fsync
                    what += " fsync"
                }
            }
            if rng.int(4) == 0, !new.isEmpty {
                let off = rng.int(new.count)
                let patch = rng.bytes(1 + rng.int(100))
                var patched = new
                if patched.count < off + patch.count { patched += [UInt8](repeating: 0, count: off + patch.count - patched.count) }
                patched.replaceSubrange(off..<(off + patch.count), with: patch)
                intended = model.with(p, patched)
                do throws(VFSError) {
                    _ = try await vfs.write(h, offset: Int64(off), bytes: patch)
                    new = patched
                    what += " patch@\(off)"
                } catch {
                    // Only without a copy of uploaded parts may a seek back be refused.
                    guard error == .notSupported, !seekable else { throw error }
                    intended = model.with(p, new)
                    what += " patch@\(off) ENOTSUP"
                }
            }
            try await vfs.flush(h)
            }
            model.files[p] = new
            return what
        case 11:  // another client appends (creating an Appendable object, or growing one)
            let p = rng.int(2) == 0 ? pick(files: true) ?? randomPath() : randomPath()
            guard parentOK(p), !model.isDir(p) else { return "skip remote append" }
            let old = model.files[p] ?? []
            let bytes = rng.bytes(1 + rng.int(3000))
            do {
                _ = try await store.appendObject(p, position: UInt64(old.count), body: UploadBody(bytes), options: WriteOptions(),
                                                 previousCRC: nil)
            } catch {
                return "skip remote append to \(p): \(error)"
            }
            model.files[p] = old + bytes
            return "remote append \(p) +\(bytes.count)"
        default:
            time.advance(Double(rng.int(5)))
            return "clock"
        }
    }

    /// Where the tree seen through the VFS differs from the model (empty: it does not).
    func mismatches(_ dir: String = "") async throws -> [String] {
        let ino = try await resolve(dir)
        let h = try await vfs.opendir(ino)
        var names: Set<String> = []
        try await vfs.readdir(ino, handle: h, offset: 0, plus: false) { e in
            if e.name != "." && e.name != ".." { names.insert(e.name) }
            return true
        }
        vfs.releasedir(h)
        var out: [String] = []
        if names != model.children(dir) {
            out.append("listing of '\(dir)': \(names.sorted()) != model \(model.children(dir).sorted())")
        }
        for name in names.intersection(model.children(dir)) {
            let path = dir.isEmpty ? name : dir + "/" + name
            if let expected = model.files[path], !model.isDir(path) {
                let f = try await resolve(path)
                let (fh, _) = try await vfs.open(f, writable: false)
                let got = try await vfs.read(fh, offset: 0, size: expected.count + 10).bytes
                await vfs.release(fh)
                if got != expected { out.append("contents of \(path): \(got.count) bytes, model \(expected.count), differing") }
            } else {
                out += try await mismatches(path)
            }
        }
        return out
    }
}

@Suite struct ReferenceModelTests {
    static let steps = 100

    /// Runs `steps` of `seed` on a fresh harness; the first failure, with the steps run.
    static func failure(seed: Int, steps: [Int]) async -> (String, [String])? {
        let h = Harness(seed: UInt64(seed) &* 0x1F3D_5B79 &+ 17, faulty: seed % 2 == 1)
        for i in steps {
            if let wrong = await h.run(step: i) { return (wrong, h.log) }
        }
        return nil
    }

    /// The failing steps cut down (ddmin): chunks whose removal keeps a failure go.
    static func shrink(seed: Int, steps: [Int]) async -> (String, [String]) {
        var current = steps
        var last = await failure(seed: seed, steps: steps)!
        var chunk = max(1, current.count / 2)
        var replays = 0
        while replays < 400 {
            var i = 0
            var removed = false
            while i < current.count && replays < 400 {
                let candidate = Array(current[..<i] + current[min(current.count, i + chunk)...])
                replays += 1
                if let f = await failure(seed: seed, steps: candidate) {
                    current = candidate
                    last = f
                    removed = true
                } else {
                    i += chunk
                }
            }
            if chunk == 1 && !removed { break }
            chunk = max(1, chunk / 2)
        }
        return last
    }

    static func check(seed: Int) async {
        guard await failure(seed: seed, steps: Array(0..<steps)) != nil else { return }
        let (wrong, log) = await shrink(seed: seed, steps: Array(0..<steps))
        Issue.record("seed \(seed): \(wrong); shrunk to steps \(log)")
    }

    /// 200 seeds x 100 steps per run; odd seeds with faults.
    @Test(arguments: 0..<200)
    func randomSequencesMatchTheModel(seed: Int) async {
        await Self.check(seed: seed)
    }
}
