// Directory listing: paged ListObjectsV2 with delimiter "/", one page at a time as
// the kernel reads on. Each page's entries fill the attribute cache (and, with
// readdirplus, come with their attributes), so `ls -l` of a large directory costs
// one LIST per 1000 entries and no HEAD per file. The next page is asked for as
// soon as one arrives, so OSS lists it while the kernel takes the current one.
import ObjectStore

struct DirectoryHandle: Sendable {
    let ino: InodeNumber
    let key: String
    /// Entries read so far, in listing order ("." and ".." first).
    var entries: [(name: String, kind: FileKind, key: String, info: ObjectSummary?)] = []
    var names: Set<ByteKey> = []
    var token: String?
    var done = false
    /// The next page, already asked for.
    var next: Task<ListPage, any Error>?
}

extension VFS {
    public func opendir(_ ino: InodeNumber) async throws(VFSError) -> UInt64 {
        let node = try inode(ino)
        guard node.kind == .directory else { throw .notDirectory }
        return state.withLock { s in
            let h = s.nextHandle
            s.nextHandle += 1
            var d = DirectoryHandle(ino: ino, key: node.key)
            d.entries = [(".", .directory, node.key, nil), ("..", .directory, node.key, nil)]
            s.directories[h] = d
            return h
        }
    }

    public func releasedir(_ handle: UInt64) {
        state.withLock { $0.directories.removeValue(forKey: handle) }?.next?.cancel()
    }

    private func listPage(_ d: DirectoryHandle) -> ListRequest {
        ListRequest(prefix: d.key, delimiter: "/", maxKeys: config.listPageSize, continuationToken: d.token)
    }

    /// Reads the next page of the listing into the handle; false when nothing is left.
    func loadPage(_ handle: UInt64) async throws(VFSError) -> Bool {
        guard let d = state.withLock({ $0.directories[handle] }) else { throw .badHandle }
        if d.done { return false }
        let page: ListPage
        do {
            if let next = d.next { page = try await next.value } else { page = try await client.listObjects(listPage(d)) }
        } catch {
            state.withLock { $0.directories[handle]?.next = nil }  // the next readdir asks again
            throw VFSError(error)
        }
        // Files first within a page, so a name that is both a file and a directory shows
        // as the file, as lookup answers (its children are then not reachable here). Names
        // a directory entry cannot have ("", ".", "..", over 255 bytes) are not shown.
        var fresh: [(name: String, kind: FileKind, key: String, info: ObjectSummary?)] = []
        let hidden = state.withLock { $0.hidden }  // one look per page (almost always empty)
        for o in page.objects where !o.key.bytesEqual(d.key) && hidden[o.key] != o.etag {
            let name = o.key.droppingBytePrefix(d.key)
            if (try? Self.validName(name)) != nil { fresh.append((name, o.type == .symlink ? .symlink : .file, o.key, o)) }
        }
        for p in page.commonPrefixes {
            let name = String(p.droppingBytePrefix(d.key).dropLast())
            if (try? Self.validName(name)) != nil { fresh.append((name, .directory, p, nil)) }
        }
        state.withLock { s in
            guard var h = s.directories[handle] else { return }
            for e in fresh where !h.names.contains(ByteKey(e.name)) {
                h.names.insert(ByteKey(e.name))
                h.entries.append(e)
            }
            h.token = page.nextContinuationToken
            h.done = !page.isTruncated || page.nextContinuationToken == nil
            h.next = nil
            if !h.done {
                let request = listPage(h)
                h.next = Task { [client] in try await client.listObjects(request) }
            }
            s.directories[handle] = h
        }
        return true
    }

    /// Entries after `offset` (an index into the listing), each passed to `add` until it
    /// refuses one. With `plus`, accepted entries carry attributes and count as looked up.
    public func readdir(_ ino: InodeNumber, handle: UInt64, offset: Int64, plus: Bool,
                        add: (DirectoryEntry) -> Bool) async throws(VFSError) {
        var index = Int(offset)
        while true {
            if try addListed(handle, from: &index, plus: plus, add: add) { return }
            do {
                guard try await loadPage(handle) else { return }
            } catch {
                // Entries already added are replied (the kernel holds their counts); the
                // next readdir asks for the page again.
                if index > Int(offset) { return }
                throw error
            }
        }
    }

    /// `readdir` when it needs no request: some entries after `offset` are listed
    /// already (a reply may hold fewer than fit: the kernel asks again for the rest),
    /// or the listing is over. False, before anything was added, when a page must be
    /// listed first.
    public func readdirWithoutIO(_ ino: InodeNumber, handle: UInt64, offset: Int64, plus: Bool,
                                 add: (DirectoryEntry) -> Bool) -> Bool {
        guard let d = state.withLock({ $0.directories[handle] }), offset >= 0,
            Int(offset) < d.entries.count || d.done
        else { return false }
        var index = Int(offset)
        do { _ = try addListed(handle, from: &index, plus: plus, add: add) } catch { return index > Int(offset) }
        return true
    }

    /// Hands `add` the listed entries from `index` on; true when it refused one (the
    /// reply is full), false when the listed ones ran out.
    private func addListed(_ handle: UInt64, from index: inout Int, plus: Bool,
                           add: (DirectoryEntry) -> Bool) throws(VFSError) -> Bool {
        guard let d = state.withLock({ $0.directories[handle] }) else { throw .badHandle }
        while index < d.entries.count {
            let e = d.entries[index]
            // readdirplus entries count as looked up: the count is taken with the table
            // update (a FORGET cannot slip in between) and given back if the entry does not
            // fit. Plain readdir makes no inode (the kernel looks names up itself): a known
            // inode's number, else a stable one from the key that no inode ever has.
            let ino: InodeNumber
            var counted = false
            var node: Inode?
            if index < 2 {
                // "." is this directory; ".." is shown with the root's number (the kernel
                // resolves ".." itself and ignores it).
                ino = index == 0 ? d.ino : InodeTable.rootIno
                if plus { node = try inode(ino) }
            } else if plus {
                let n = if let info = e.info { remember(fileKey: e.key, info: ObjectInfo(listed: info), lookups: 1, listed: true) }
                    else { remember(directoryKey: e.key, lookups: 1) }
                (ino, node, counted) = (n.ino, n, true)
            } else {
                ino = state.withLock { $0.table.ino(forKey: e.key) } ?? InodeTable.unlistedIno(e.key)
            }
            let dirEntry = DirectoryEntry(name: e.name, ino: ino, kind: e.kind, nextOffset: Int64(index + 1),
                                          entry: node.map(entry))
            guard add(dirEntry) else {
                if counted { forget(ino, count: 1) }
                return true
            }
            index += 1
        }
        return false
    }
}
