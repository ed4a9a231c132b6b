// Tier 2: seeded random sequences of filesystem operations (and changes made by
// another client straight to the store) run against the VFS without a kernel,
// checked after every step against a plain model of the expected tree and bytes.
// A failure prints its seed and the operations so far.
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
    let vfs: VFS
    var model = Model()
    var rng: SplitMix
    var log: [String] = []
    let time = ManualTime()
    /// Whether uploaded parts are kept for seek-backs (off for every fourth seed).
    let seekable: Bool

    init(seed: UInt64) {
        rng = SplitMix(state: seed)
        seekable = seed % 4 != 0
        var config = VFSConfig()
        config.attrTimeout = 0
        config.entryTimeout = 0
        config.negativeTimeout = 0
        config.readOnly = false
        config.uploadBufferSize = 1 << 20
        config.prefetchChunkSize = 64 << 10
        config.stagingDirectory = "/tmp"
        config.seekableWrites = seekable
        vfs = VFS(client: store, config: config, clock: time.clock)
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
        do {
            _ = try await vfs.write(h, offset: 0, bytes: bytes)
            if let (off, b) = patch { _ = try await vfs.write(h, offset: Int64(off), bytes: b) }
            try await vfs.flush(h)
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
            let ino = try await resolve(p)
            let (h, _) = try await vfs.open(ino, writable: true, truncate: false)
            _ = try await vfs.write(h, offset: Int64(off), bytes: patch)
            try await vfs.flush(h)
            await vfs.release(h)
            var new = old
            if new.count < off + patch.count { new += [UInt8](repeating: 0, count: off + patch.count - new.count) }
            new.replaceSubrange(off..<(off + patch.count), with: patch)
            model.files[p] = new
            return "edit \(p) at \(off) +\(patch.count)"
        case 3:  // truncate
            guard let p = pick(files: true) else { return "skip truncate" }
            let size = rng.int(2) == 0 ? 0 : rng.int(model.files[p]!.count + 100)
            let ino = try await resolve(p)
            let (h, _) = try await vfs.open(ino, writable: true, truncate: false)
            _ = try await vfs.setattr(ino, AttributeChange(size: UInt64(size)), handle: h)
            try await vfs.flush(h)
            await vfs.release(h)
            var new = model.files[p]!
            if size < new.count { new = Array(new[..<size]) } else { new += [UInt8](repeating: 0, count: size - new.count) }
            model.files[p] = new
            return "truncate \(p) \(size)"
        case 4:  // unlink
            guard let p = pick(files: true) else { return "skip unlink" }
            let (dir, name) = split(p)
            try await vfs.unlink(parent: try await resolve(dir), name: name)
            model.files[p] = nil
            return "unlink \(p)"
        case 5:  // mkdir
            let p = randomPath()
            guard parentOK(p) else { return "skip mkdir" }
            let (dir, name) = split(p)
            do {
                _ = try await vfs.mkdir(parent: try await resolve(dir), name: name, mode: 0o755)
                if model.exists(p) { Issue.record("mkdir \(p) succeeded over an existing name after \(log)") }
                model.dirs.insert(p)
            } catch {
                if !(error == .exists && model.exists(p)) { Issue.record("mkdir \(p): \(error) after \(log)") }
            }
            return "mkdir \(p)"
        case 6:  // rmdir
            guard let p = pick(files: false), model.isDir(p) else { return "skip rmdir" }
            let (dir, name) = split(p)
            do {
                try await vfs.rmdir(parent: try await resolve(dir), name: name)
                if !model.children(p).isEmpty { Issue.record("rmdir \(p) removed a non-empty directory after \(log)") }
                model.dirs.remove(p)
            } catch {
                if !(error == .notEmpty && !model.children(p).isEmpty) { Issue.record("rmdir \(p): \(error) after \(log)") }
            }
            return "rmdir \(p)"
        case 7:  // rename a file to a fresh name
            guard let p = pick(files: true) else { return "skip rename" }
            let q = randomPath()
            guard parentOK(q), !model.isDir(q), !q.hasPrefix(p + "/"), q != p else { return "skip rename" }
            let (d1, n1) = split(p), (d2, n2) = split(q)
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
            for _ in 0..<(1 + rng.int(3)) {
                let bytes = rng.bytes(rng.int(4) == 0 ? 700_000 : 1 + rng.int(2000))
                _ = try await vfs.write(h, offset: Int64(new.count), bytes: bytes)
                new += bytes
                what += " +\(bytes.count)"
                if rng.int(3) == 0 {
                    try await vfs.fsync(h)
                    what += " fsync"
                }
            }
            if rng.int(4) == 0, !new.isEmpty {
                let off = rng.int(new.count)
                let patch = rng.bytes(1 + rng.int(100))
                do {
                    _ = try await vfs.write(h, offset: Int64(off), bytes: patch)
                    if new.count < off + patch.count { new += [UInt8](repeating: 0, count: off + patch.count - new.count) }
                    new.replaceSubrange(off..<(off + patch.count), with: patch)
                    what += " patch@\(off)"
                } catch {
                    // Only without a copy of uploaded parts may a seek back be refused.
                    guard error == .notSupported, !seekable else { throw error }
                    what += " patch@\(off) ENOTSUP"
                }
            }
            try await vfs.flush(h)
            await vfs.release(h)
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
    /// 200 seeds x 100 steps per run.
    @Test(arguments: 0..<200)
    func randomSequencesMatchTheModel(seed: Int) async throws {
        let h = Harness(seed: UInt64(seed) &* 0x1F3D_5B79 &+ 17)
        for _ in 0..<100 {
            let op: String
            do {
                op = try await h.step()
            } catch {
                Issue.record("seed \(seed): step failed after \(h.log.suffix(10)): \(error)")
                return
            }
            h.log.append(op)
            let wrong: [String]
            do { wrong = try await h.mismatches() } catch {
                Issue.record("seed \(seed): check failed after \(h.log): \(error)")
                return
            }
            if !wrong.isEmpty {
                Issue.record("seed \(seed): \(wrong) after operations \(h.log)")
                return
            }
        }
    }
}
