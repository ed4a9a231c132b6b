// Multipart uploads with OSS's rules: part numbers 1-10000, parts other than the
// last at least 100 KiB (checked at Complete: EntityTooSmall), ascending part
// order (InvalidPartOrder), known parts with matching ETags (InvalidPart),
// unknown upload ids (NoSuchUpload). The object's CRC-64 is the parts' CRCs
// combined; its ETag is the S3-style MD5 of the part MD5s with a `-N` suffix.
import ObjectStore
import Foundation
import OSSClient
import OSSCrypto

extension LocalService {
    static func stripQuotes(_ s: String) -> String { s.trimmingCharacters(in: ["\""]).uppercased() }

    func partNumber(_ r: ParsedRequest) throws(OSSError) -> Int {
        guard let n = r.queryValue("partNumber").flatMap(Int.init), (1...10_000).contains(n) else {
            throw .invalidArgument("Part number must be an integer between 1 and 10000, inclusive.")
        }
        return n
    }

    func initiateUpload(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let id = UUID().uuidString.replacingOccurrences(of: "-", with: "").uppercased()
        try b.addUpload(UploadRecord(uploadId: id, key: r.key, initiated: timestamp(),
                                     contentType: r.header("Content-Type") ?? "application/octet-stream",
                                     userMetadata: r.userMetadata, forbidOverwrite: r.header("x-oss-forbid-overwrite") == "true",
                                     parts: [:]))
        var doc = XMLDoc()
        doc.open("InitiateMultipartUploadResult", attributes: xmlns(r))
        doc.element("Bucket", b.name)
        doc.element("Key", r.queryValue("encoding-type") == "url" ? URIEncoding.encode(r.key, keepSlash: true) : r.key)
        doc.element("UploadId", id)
        if r.queryValue("encoding-type") == "url" { doc.element("EncodingType", "url") }
        doc.close("InitiateMultipartUploadResult")
        return .xml(200, doc)
    }

    func xmlns(_ r: ParsedRequest) -> String { r.s3Dialect ? " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"" : "" }

    private func storePart(_ b: BucketStore, _ r: ParsedRequest, _ part: PartRecord) throws(OSSError) {
        var replaced: String?
        do {
            _ = try b.updateUpload(r.queryValue("uploadId") ?? "", key: r.key) { u throws(OSSError) in
                replaced = u.parts[part.number]?.blob
                u.parts[part.number] = part
            }
        } catch {
            b.blobs.delete(part.blob)
            throw error
        }
        if let replaced, replaced != part.blob { b.blobs.delete(replaced) }
    }

    func uploadPart(_ r: ParsedRequest, _ body: ReceivedBody) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        guard case .blob(let id, let size, let md5, let crc) = body else { throw .internalError("no body") }
        let n: Int
        do {
            n = try partNumber(r)
            try Self.checkMD5(r, md5)
        } catch {
            b.blobs.delete(id)
            throw error
        }
        let etag = Self.quotedMD5(md5)
        try storePart(b, r, PartRecord(number: n, blob: id, size: size, etag: etag, crc64: crc, lastModified: timestamp()))
        return LocalResponse(status: 200, headers: [("ETag", etag), ("x-oss-hash-crc64ecma", String(crc)),
                                                    ("Content-MD5", Base64.encode(md5))])
    }

    func uploadPartCopy(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let n = try partNumber(r)
        _ = try b.upload(r.queryValue("uploadId") ?? "", key: r.key)
        let (sb, sourceKey) = try copySource(r)
        guard sb === b else { throw .invalidArgument("osslocal copies within one bucket only.") }
        guard let src = sb.object(sourceKey), let srcBlob = src.blob ?? (src.size == 0 ? "" : nil) else { throw .noSuchKey() }
        if let m = r.ossHeader("copy-source-if-match"), Self.stripQuotes(m) != Self.stripQuotes(src.etag) {
            throw OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", ec: "0026-00000008")
        }
        var start: Int64 = 0, length = src.size
        if let range = r.ossHeader("copy-source-range") {
            guard let (a, z) = try Self.range(range, size: src.size, standard: true) else {
                throw OSSError(416, "InvalidRange", "The requested range cannot be satisfied", ec: "0026-00000012")
            }
            start = a
            length = z - a + 1
        }
        let blob = try wrap { () throws -> String in
            if srcBlob.isEmpty || length == 0 {
                let w = try b.blobs.create()
                try w.finish()
                return w.id
            }
            return try b.blobs.copy(srcBlob, offset: start, length: length)
        }
        let (md5, crc) = try wrap { try digest(b, blob, length) }
        let etag = Self.quotedMD5(md5)
        try storePart(b, r, PartRecord(number: n, blob: blob, size: length, etag: etag, crc64: crc, lastModified: timestamp()))
        var doc = XMLDoc()
        doc.open("CopyPartResult", attributes: xmlns(r))
        doc.element("LastModified", HTTPDate.iso8601(timestamp()))
        doc.element("ETag", etag)
        doc.close("CopyPartResult")
        return .xml(200, doc, headers: [("ETag", etag), ("x-oss-hash-crc64ecma", String(crc))])
    }

    /// MD5 and CRC-64 of a blob, read back (for copied parts, whose bytes never passed by).
    func digest(_ b: BucketStore, _ blob: String, _ length: Int64) throws -> ([UInt8], UInt64) {
        let md5 = MD5Hasher()
        var crc = CRC64()
        guard length > 0 else { return (md5.finalize(), 0) }
        switch try b.blobs.read(blob, offset: 0, length: length) {
        case .none: break
        case .bytes(let buffer):
            buffer.withUnsafeReadableBytes { md5.update($0); crc.update($0) }
        case .buffers(let buffers):
            for b in buffers { b.withUnsafeReadableBytes { md5.update($0); crc.update($0) } }
        case .files(let ranges):
            defer { for r in ranges { try? r.handle.close() } }
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            for r in ranges {
                try r.handle.withUnsafeFileDescriptor { fd in
                    var pos = r.offset
                    let end = r.offset + r.length
                    while pos < end {
                        let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, Int(end - pos)), off_t(pos)) }
                        guard n > 0 else { throw BlobError(description: "short read of blob \(blob)") }
                        chunk.withUnsafeBytes { p in
                            let piece = UnsafeRawBufferPointer(rebasing: p[0..<n])
                            md5.update(piece)
                            crc.update(piece)
                        }
                        pos += Int64(n)
                    }
                }
            }
        }
        return (md5.finalize(), crc.value)
    }

    func completeUpload(_ r: ParsedRequest, _ body: ReceivedBody) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let id = r.queryValue("uploadId") ?? ""
        let upload = try b.upload(id, key: r.key)
        var chosen: [PartRecord]
        if r.header("x-oss-complete-all")?.lowercased() == "yes" {
            chosen = upload.parts.keys.sorted().map { upload.parts[$0]! }
        } else {
            guard case .document(let bytes) = body, let xml = XMLNode.parse(bytes), xml.name == "CompleteMultipartUpload" else {
                throw OSSError(400, "MalformedXML", "The XML you provided was not well-formed.", ec: "0031-00000001")
            }
            let listed = xml.all("Part").map { ($0.text("PartNumber").flatMap(Int.init), $0.text("ETag") ?? "") }
            chosen = []
            var last = 0
            for (number, etag) in listed {
                guard let number else { throw OSSError(400, "MalformedXML", "PartNumber missing.", ec: "0031-00000001") }
                guard number > last else {
                    throw OSSError(400, "InvalidPartOrder", "The list of parts was not in ascending order.", ec: "0042-00000004")
                }
                last = number
                guard let p = upload.parts[number], Self.stripQuotes(p.etag) == Self.stripQuotes(etag) else {
                    throw OSSError(400, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                                   ec: "0042-00000003")
                }
                chosen.append(p)
            }
        }
        guard !chosen.isEmpty else { throw OSSError(400, "MalformedXML", "No parts listed.", ec: "0031-00000001") }
        for p in chosen.dropLast() where p.size < Self.minimumPartSize {
            throw OSSError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.", ec: "0042-00000213")
        }
        let blob = try wrap { try b.blobs.concatenate(chosen.map { ($0.blob, $0.size) }) }
        var crc = CRC64()
        var md5s: [UInt8] = []
        for p in chosen {
            crc.append(crc: p.crc64, length: UInt64(p.size))
            md5s += Hex.decode(Self.stripQuotes(p.etag)) ?? []
        }
        let etag = "\"" + Hex.upper(Digest.md5(md5s)) + "-\(chosen.count)\""
        let record = ObjectRecord(key: r.key, size: chosen.reduce(0) { $0 + $1.size }, etag: etag, type: "Multipart",
                                  lastModified: timestamp(), contentType: upload.contentType,
                                  userMetadata: upload.userMetadata, crc64: crc.value, blob: blob, symlinkTarget: nil)
        let forbid = upload.forbidOverwrite
        do {
            try b.commit(record) { current throws(OSSError) in
                if forbid && current != nil {
                    throw OSSError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.",
                                   ec: "0026-00000010")
                }
            }
        } catch {
            b.blobs.delete(blob)
            throw error
        }
        if let done = try? b.removeUpload(id, key: r.key) { for p in done.parts.values { b.blobs.delete(p.blob) } }
        var doc = XMLDoc()
        doc.open("CompleteMultipartUploadResult", attributes: xmlns(r))
        if r.queryValue("encoding-type") == "url" { doc.element("EncodingType", "url") }
        doc.element("Location", "http://\(b.name).oss-\(region).localhost/\(URIEncoding.encode(r.key, keepSlash: true))")
        doc.element("Bucket", b.name)
        doc.element("Key", r.queryValue("encoding-type") == "url" ? URIEncoding.encode(r.key, keepSlash: true) : r.key)
        doc.element("ETag", etag)
        doc.close("CompleteMultipartUploadResult")
        return .xml(200, doc, headers: [("ETag", etag), ("x-oss-hash-crc64ecma", String(crc.value))])
    }

    func abortUpload(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let u = try b.removeUpload(r.queryValue("uploadId") ?? "", key: r.key)
        for p in u.parts.values { b.blobs.delete(p.blob) }
        return LocalResponse(status: 204)
    }

    func listParts(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let u = try b.upload(r.queryValue("uploadId") ?? "", key: r.key)
        let marker = r.queryValue("part-number-marker").flatMap(Int.init) ?? 0
        let maxParts = r.queryValue("max-parts").flatMap(Int.init) ?? 1000
        let all = u.parts.keys.sorted().filter { $0 > marker }
        let page = all.prefix(maxParts)
        var doc = XMLDoc()
        doc.open("ListPartsResult", attributes: xmlns(r))
        doc.element("Bucket", b.name)
        doc.element("Key", r.key)
        doc.element("UploadId", u.uploadId)
        doc.element("PartNumberMarker", String(marker))
        doc.element("NextPartNumberMarker", String(page.last ?? marker))
        doc.element("MaxParts", String(maxParts))
        doc.element("IsTruncated", String(all.count > maxParts))
        for n in page {
            let p = u.parts[n]!
            doc.open("Part")
            doc.element("PartNumber", String(n))
            doc.element("LastModified", HTTPDate.iso8601(p.lastModified))
            doc.element("ETag", p.etag)
            doc.element("HashCrc64ecma", String(p.crc64))
            doc.element("Size", String(p.size))
            doc.close("Part")
        }
        doc.close("ListPartsResult")
        return .xml(200, doc)
    }

    func listUploads(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let prefix = r.queryValue("prefix") ?? ""
        let keyMarker = r.queryValue("key-marker") ?? ""
        let idMarker = r.queryValue("upload-id-marker") ?? ""
        let maxUploads = r.queryValue("max-uploads").flatMap(Int.init) ?? 1000
        let encode = r.queryValue("encoding-type") == "url"
        func name(_ s: String) -> String { encode ? URIEncoding.encode(s, keepSlash: true) : s }
        let all = b.allUploads().filter { $0.key.hasBytePrefix(prefix) }
            .sorted { $0.key.bytesEqual($1.key) ? $0.uploadId < $1.uploadId : KeyIndex.precedes($0.key, $1.key) }
            .filter {
                keyMarker.isEmpty || KeyIndex.precedes(keyMarker, $0.key)
                    || ($0.key.bytesEqual(keyMarker) && $0.uploadId > idMarker)
            }
        let page = all.prefix(maxUploads)
        let truncated = all.count > maxUploads
        var doc = XMLDoc()
        doc.open("ListMultipartUploadsResult", attributes: xmlns(r))
        doc.element("Bucket", b.name)
        if encode { doc.element("EncodingType", "url") }
        doc.element("KeyMarker", name(keyMarker))
        doc.element("UploadIdMarker", idMarker)
        doc.element("NextKeyMarker", truncated ? name(page.last!.key) : "")
        doc.element("NextUploadIdMarker", truncated ? page.last!.uploadId : "")
        doc.element("Prefix", name(prefix))
        doc.element("MaxUploads", String(maxUploads))
        doc.element("IsTruncated", String(truncated))
        for u in page {
            doc.open("Upload")
            doc.element("Key", name(u.key))
            doc.element("UploadId", u.uploadId)
            doc.element("StorageClass", "Standard")
            doc.element("Initiated", HTTPDate.iso8601(u.initiated))
            doc.close("Upload")
        }
        doc.close("ListMultipartUploadsResult")
        return .xml(200, doc)
    }
}
