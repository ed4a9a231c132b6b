// Object operations: HEAD/GET (ranges, conditions, symlinks followed), PUT,
// copy, delete, symlinks, and GetObjectMeta.
import ObjectStore
import Foundation
import NIOCore
import OSSClient
import OSSCrypto

extension LocalService {
    /// The record a read sees: a symlink is followed one level, as OSS does.
    func resolve(_ b: BucketStore, _ key: String) throws(OSSError) -> (ObjectRecord, link: ObjectRecord?) {
        guard let o = b.object(key) else { throw .noSuchKey() }
        guard o.type == "Symlink", let target = o.symlinkTarget else { return (o, nil) }
        guard let t = b.object(target) else {
            throw OSSError(404, "SymlinkTargetNotExist", "The symlink target object does not exist", ec: "0026-00000005")
        }
        return (t, o)
    }

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n` → a valid range, nil (serve everything), or an error.
    static func range(_ header: String?, size: Int64, standard: Bool) throws(OSSError) -> (Int64, Int64)? {
        guard let header, header.hasPrefix("bytes=") else { return nil }
        let spec = header.dropFirst(6).split(separator: ",").first ?? ""
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let first = Int64(parts[0]), last = Int64(parts[1])
        var start: Int64, end: Int64
        switch (first, last) {
        case (let a?, let b?): (start, end) = (a, b)
        case (let a?, nil) where parts[1].isEmpty: (start, end) = (a, size - 1)
        case (nil, let n?) where parts[0].isEmpty: (start, end) = (max(0, size - n), size - 1)
        default: return nil
        }
        if start >= size || start > end {
            guard standard else { return nil }  // OSS's default: ignore a bad range, send everything
            throw OSSError(416, "InvalidRange", "The requested range cannot be satisfied", ec: "0026-00000012",
                           headers: [("Content-Range", "bytes */\(size)")])
        }
        if end >= size {
            guard standard else { return nil }
            end = size - 1
        }
        return (start, end)
    }

    func checkConditions(_ r: ParsedRequest, etag: String, lastModified: Int64) throws(OSSError) {
        func same(_ a: String, _ b: String) -> Bool {
            a.trimmingCharacters(in: ["\""]).uppercased() == b.trimmingCharacters(in: ["\""]).uppercased()
        }
        if let m = r.header("If-Match"), !same(m, etag) {
            throw OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", ec: "0026-00000008")
        }
        if let t = r.header("If-Unmodified-Since").flatMap(HTTPDate.parseRFC1123), lastModified > t.seconds {
            throw OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", ec: "0026-00000008")
        }
        if let m = r.header("If-None-Match"), same(m, etag) {
            throw OSSError(304, "NotModified", "Not Modified", ec: "0026-00000009", headers: [("ETag", etag)])
        }
        if let t = r.header("If-Modified-Since").flatMap(HTTPDate.parseRFC1123), lastModified <= t.seconds {
            throw OSSError(304, "NotModified", "Not Modified", ec: "0026-00000009", headers: [("ETag", etag)])
        }
    }

    func getObject(_ r: ParsedRequest, head: Bool) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let (o, link) = try resolve(b, r.key)
        var shown = o
        if let link {
            shown.etag = link.etag
            shown.type = "Symlink"
            shown.lastModified = link.lastModified
            shown.userMetadata = link.userMetadata
        }
        try checkConditions(r, etag: shown.etag, lastModified: shown.lastModified)
        var headers = objectHeaders(shown, s3: r.s3Dialect)
        for (param, header) in [("response-content-type", "Content-Type"), ("response-content-language", "Content-Language"),
                                ("response-expires", "Expires"), ("response-cache-control", "Cache-Control"),
                                ("response-content-disposition", "Content-Disposition"),
                                ("response-content-encoding", "Content-Encoding")] {
            if let v = r.queryValue(param) {
                headers.removeAll { $0.0 == header }
                headers.append((header, v))
            }
        }
        let standard = r.header("x-oss-range-behavior") == "standard"
        var status = 200, start: Int64 = 0, length = o.size
        if let (a, z) = try Self.range(r.header("Range"), size: o.size, standard: standard) {
            status = 206
            start = a
            length = z - a + 1
            headers.append(("Content-Range", "bytes \(a)-\(z)/\(o.size)"))
        }
        guard !head, length > 0, let blob = o.blob else {
            return LocalResponse(status: status, headers: headers, body: .none, length: length)
        }
        let body = try wrap { try b.blobs.read(blob, offset: start, length: length) }
        return LocalResponse(status: status, headers: headers, body: body, length: length)
    }

    /// GetObjectMeta (HEAD or GET `?objectMeta`): the few headers OSS sends, with the
    /// object's size as Content-Length and no body. A symlink is described itself, not
    /// followed.
    func objectMeta(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        guard let o = try bucket(r).object(r.key) else { throw .noSuchKey() }
        let modified = HTTPDate.rfc1123(o.lastModified)
        var headers = [("ETag", o.etag), ("Last-Modified", modified), ("x-oss-last-access-time", modified)]
        if o.type != "Symlink" { headers.append(("x-oss-hash-crc64ecma", String(o.crc64))) }
        return LocalResponse(status: 200, headers: headers, body: .none, length: o.size)
    }

    func forbidOverwriteCheck(_ r: ParsedRequest) -> (ObjectRecord?) throws(OSSError) -> Void {
        let forbid = r.header("x-oss-forbid-overwrite") == "true"
        return { current throws(OSSError) in
            if forbid, current != nil {
                throw OSSError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.",
                               ec: "0026-00000010")
            }
        }
    }

    func putObject(_ r: ParsedRequest, _ body: ReceivedBody) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        guard case .blob(let id, let size, let md5, let crc) = body else { throw .internalError("no body") }
        var committed = false
        defer { if !committed { b.blobs.delete(id) } }
        try Self.checkMD5(r, md5)
        guard size <= Self.maximumPutSize else {
            throw OSSError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", ec: "0026-00000011")
        }
        let etag = Self.quotedMD5(md5)
        try b.commit(newRecord(r, key: r.key, size: size, etag: etag, type: "Normal", crc64: crc, blob: id),
                     check: forbidOverwriteCheck(r))
        committed = true
        return LocalResponse(status: 200, headers: [("ETag", etag), ("x-oss-hash-crc64ecma", String(crc)),
                                                    ("Content-MD5", Base64.encode(md5))])
    }

    func appendObject(_ r: ParsedRequest, _ body: ReceivedBody) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        guard case .blob(let id, let size, let md5, let crc) = body else { throw .internalError("no body") }
        defer { b.blobs.delete(id) }  // the bytes are copied onto the object's own blob
        try Self.checkMD5(r, md5)
        guard let position = r.queryValue("position").flatMap(Int64.init) else {
            throw OSSError(400, "MissingArgument", "Missing Some Required Arguments.", ec: "0016-00000501")
        }
        var result: ObjectRecord?
        let current = b.object(r.key)
        var record: ObjectRecord
        if let current {
            guard current.type == "Appendable" else {
                throw OSSError(409, "ObjectNotAppendable", "The object is not appendable", ec: "0026-00000013")
            }
            record = current
        } else {
            let blob = try wrap { () throws -> String in
                let w = try b.blobs.create()
                try w.finish()
                return w.id
            }
            record = newRecord(r, key: r.key, size: 0, etag: "", type: "Appendable", crc64: 0, blob: blob)
        }
        let target = record.blob!
        try b.commitAppend(key: r.key, expected: current, position: position) { () throws(OSSError) -> ObjectRecord in
            try wrap { try b.blobs.append(to: target, at: position, from: id, length: size) }
            record.size = position + size
            record.crc64 = CRC64.combine(record.crc64, crc, UInt64(size))
            record.lastModified = timestamp()
            record.etag = Self.quotedMD5(Digest.md5(Array("\(target):\(record.size):\(record.crc64)".utf8)))
            result = record
            return record
        }
        return LocalResponse(status: 200, headers: [("ETag", result!.etag), ("x-oss-next-append-position", String(result!.size)),
                                                    ("x-oss-hash-crc64ecma", String(result!.crc64))])
    }

    func deleteObject(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        try bucket(r).remove(r.key)
        return LocalResponse(status: 204)
    }

    func copyObject(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let (sb, sourceKey) = try copySource(r)
        guard sb === b else { throw .invalidArgument("osslocal copies within one bucket only.") }
        guard let src = sb.object(sourceKey) else { throw .noSuchKey() }
        if let m = r.ossHeader("copy-source-if-match"),
            m.trimmingCharacters(in: ["\""]).uppercased() != src.etag.trimmingCharacters(in: ["\""]).uppercased() {
            throw OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", ec: "0026-00000008")
        }
        guard src.type != "Appendable" else { throw .invalidArgument("An Appendable object cannot be the source of a copy.") }
        var copy = src
        copy.key = r.key
        copy.lastModified = timestamp()
        if src.type == "Multipart" { copy.type = "Normal" }
        if (r.ossHeader("metadata-directive") ?? "COPY").uppercased() == "REPLACE" {
            copy.userMetadata = r.userMetadata
            copy.contentType = r.header("Content-Type") ?? src.contentType
        }
        if let blob = src.blob { copy.blob = try wrap { try sb.blobs.copy(blob, offset: 0, length: src.size) } }
        var committed = false
        defer { if !committed, let blob = copy.blob { b.blobs.delete(blob) } }
        try b.commit(copy, check: forbidOverwriteCheck(r))
        committed = true
        var doc = XMLDoc()
        doc.open("CopyObjectResult")
        doc.element("ETag", copy.etag)
        doc.element("LastModified", HTTPDate.iso8601(copy.lastModified))
        doc.close("CopyObjectResult")
        return .xml(200, doc, headers: [("ETag", copy.etag), ("x-oss-hash-crc64ecma", String(copy.crc64))])
    }

    func putSymlink(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        guard let target = r.header("x-oss-symlink-target").map({ URIEncoding.decode($0) }), !target.isEmpty else {
            throw OSSError(400, "MissingArgument", "Missing Some Required Arguments.", ec: "0016-00000501")
        }
        var record = newRecord(r, key: r.key, size: 0, etag: Self.quotedMD5(Digest.md5(Array(target.utf8))),
                               type: "Symlink", crc64: 0, blob: nil)
        record.symlinkTarget = target
        try b.commit(record, check: forbidOverwriteCheck(r))
        return LocalResponse(status: 200, headers: [("ETag", record.etag)])
    }

    func getSymlink(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        guard let o = try bucket(r).object(r.key) else { throw .noSuchKey() }
        guard o.type == "Symlink", let target = o.symlinkTarget else {
            throw OSSError(400, "NotSymlink", "The specified object is not a symlink.", ec: "0026-00000014")
        }
        var headers = [("x-oss-symlink-target", URIEncoding.encode(target, keepSlash: true)), ("ETag", o.etag),
                       ("Last-Modified", HTTPDate.rfc1123(o.lastModified))]
        for (k, v) in o.userMetadata.sorted(by: { $0.key < $1.key }) { headers.append(("x-oss-meta-" + k, v)) }
        return LocalResponse(status: 200, headers: headers)
    }
}

extension BucketStore {
    /// Runs `apply` (which extends the blob and returns the new record) only if the object is
    /// still `expected` and `position` is its length; both checks and the commit are atomic.
    func commitAppend(key: String, expected: ObjectRecord?, position: Int64,
                      _ apply: () throws(OSSError) -> ObjectRecord) throws(OSSError) {
        try state.withLock { s throws(OSSError) in
            let current = s.objects[ByteKey(key)]
            guard current?.blob == expected?.blob, current?.type ?? "Appendable" == "Appendable" else {
                throw OSSError(409, "ObjectNotAppendable", "The object is not appendable", ec: "0026-00000013")
            }
            let size = current?.size ?? 0
            guard position == size else {
                throw OSSError(409, "PositionNotEqualToLength", "Position is not equal to file length", ec: "0026-00000015",
                               headers: [("x-oss-next-append-position", String(size))])
            }
            let record = try apply()
            do { try persist(record) } catch { throw OSSError.internalError("\(error)") }
            if current == nil { s.index.insert(key) }
            s.objects[ByteKey(key)] = record
        }
    }
}
