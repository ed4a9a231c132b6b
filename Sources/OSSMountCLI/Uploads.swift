// `ossmount uploads list|abort BUCKET[:/PREFIX] [--older-than AGE] -o ...`:
// shows and cleans incomplete multipart uploads (left by a daemon killed
// mid-write), like `ossfs -u` and `--incomplete-mpu-abort`.
import Foundation
import Logging
import ObjectStore
import OSSClient

enum UploadsCommand {
    /// `24h`, `90m`, `7d`, `3600s`, `3600`.
    static func age(_ text: String, option: String = "--older-than") throws(CommandLineError) -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var t = text.lowercased()
        var factor = 1.0
        if let last = t.last, let u = units[last] {
            factor = u
            t.removeLast()
        }
        guard let n = Double(t), n >= 0 else { throw CommandLineError("\(option) takes an age like 24h, 90m or 7d") }
        return n * factor
    }

    /// The first argument that is neither an option nor an option's value.
    static func targetIndex(_ args: [String]) -> Int? {
        var i = 0
        while i < args.count {
            if ["-o", "-c", "--config"].contains(args[i]) {
                i += 2
            } else if args[i].hasPrefix("-") {
                i += 1
            } else {
                return i
            }
        }
        return nil
    }

    static func run(_ arguments: [String]) -> Int32 {
        guard let action = arguments.first, action == "list" || action == "abort" else {
            return OSSMount.fail(
                "usage: ossmount uploads list|abort BUCKET[:/PREFIX] [--older-than AGE | --all] -o endpoint=...", fd: nil)
        }
        var rest = Array(arguments.dropFirst())
        var olderThan: Double?
        do {
            if let i = rest.firstIndex(of: "--older-than") {
                guard i + 1 < rest.count else { throw CommandLineError("--older-than needs an age, e.g. 24h") }
                olderThan = try age(rest[i + 1])
                rest.removeSubrange(i...(i + 1))
            }
            if let i = rest.firstIndex(of: "--all") {
                if olderThan != nil { throw CommandLineError("give --older-than AGE or --all, not both") }
                olderThan = 0
                rest.remove(at: i)
            }
            // A bare abort would also take uploads that live mounts elsewhere are writing.
            if action == "abort" && olderThan == nil {
                throw CommandLineError(
                    "uploads abort needs --older-than AGE (e.g. 24h: uploads live mounts write are younger) or --all")
            }
            // Reuse the mount parser, with a placeholder mountpoint (never used) after the
            // bucket, wherever the bucket stands among the options.
            guard let target = targetIndex(rest) else {
                throw CommandLineError("uploads \(action): which bucket? ossmount uploads \(action) BUCKET[:/PREFIX] -o endpoint=...")
            }
            var args = rest
            args.insert("/", at: target + 1)
            let command = try MountCommand.parse(args)
            var config = MountConfig()
            config.bucket = command.bucket
            config.prefix = command.prefix
            if let path = command.configFile { try MountConfig.parse(try ConfigFile.parse(path: path).options, into: &config) }
            try MountConfig.parse(command.options, into: &config)
            return execute(action: action, config: config, olderThan: olderThan ?? 0)
        } catch {
            return OSSMount.fail("\(error)", fd: nil)
        }
    }

    static func execute(action: String, config: MountConfig, olderThan: Double) -> Int32 {
        var quiet = OSSMount.makeLogger(config).0
        quiet.logLevel = .error
        let logger = quiet
        let result = Blocking.run { () async throws(MountFailure) -> [String] in
            let (client, transport) = try await Mounter.connect(config, logger: logger)
            defer { transport.shutdown() }
            var lines: [String] = []
            var keyMarker: String?, idMarker: String?
            let cutoff = Date().timeIntervalSince1970 - olderThan
            repeat {
                let page: UploadsPage
                do {
                    page = try await client.listMultipartUploads(prefix: config.prefix, keyMarker: keyMarker,
                                                                 uploadIdMarker: idMarker, maxUploads: 1000)
                } catch {
                    throw MountFailure("cannot list uploads: \(error)")
                }
                for u in page.uploads where Double(u.initiated?.seconds ?? 0) <= cutoff {
                    let when = u.initiated.map { Date(timeIntervalSince1970: Double($0.seconds)).description } ?? "-"
                    if action == "abort" {
                        do {
                            try await client.abortMultipartUpload(u.key, uploadId: u.uploadId)
                            lines.append("aborted\t\(u.key)\t\(u.uploadId)\t\(when)")
                        } catch {
                            lines.append("failed\t\(u.key)\t\(u.uploadId)\t\(error)")
                        }
                    } else {
                        lines.append("\(u.key)\t\(u.uploadId)\t\(when)")
                    }
                }
                keyMarker = page.isTruncated ? page.nextKeyMarker : nil
                idMarker = page.nextUploadIdMarker
            } while keyMarker != nil
            return lines
        }
        switch result {
        case .success(let lines):
            for l in lines { print(l) }
            return lines.contains { $0.hasPrefix("failed") } ? 1 : 0
        case .failure(let e):
            return OSSMount.fail(e.description, fd: nil)
        }
    }

    /// At mount: incomplete uploads under the prefix older than `stale_uploads_age`
    /// (a daemon killed mid-write leaves them, and OSS bills their parts), logged once
    /// with the command that removes them. One page is looked at; a failure (a key
    /// without ListMultipartUploads) is only noted.
    static func reportStale(client: ObjectClient, config: MountConfig, logger: Logger) async {
        guard let age = config.staleUploadsAge else { return }
        let page: UploadsPage
        do {
            page = try await client.listMultipartUploads(prefix: config.prefix, keyMarker: nil, uploadIdMarker: nil,
                                                         maxUploads: 1000)
        } catch {
            logger.info("could not look for incomplete uploads", metadata: ["error": "\(error)"])
            return
        }
        let cutoff = Date().timeIntervalSince1970 - age
        let stale = page.uploads.filter { Double($0.initiated?.seconds ?? 0) <= cutoff }
        guard let oldest = stale.min(by: { ($0.initiated?.seconds ?? 0) < ($1.initiated?.seconds ?? 0) }) else { return }
        let target = config.prefix.isEmpty ? config.bucket : "\(config.bucket):/\(config.prefix)"
        let ageText = Self.ageText(age)
        logger.warning(
            "\(stale.count)\(page.isTruncated ? " or more" : "") incomplete multipart uploads older than \(ageText) under \(target); remove them with: ossmount uploads abort \(target) --older-than \(ageText) -o endpoint=\(config.endpoint ?? "...")",
            metadata: ["oldest": "\(oldest.key)", "initiated": "\(oldest.initiated.map { Date(timeIntervalSince1970: Double($0.seconds)).description } ?? "-")"])
    }

    /// 86400 → "24h", 5400 → "90m", 30 → "30s".
    static func ageText(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s > 0 && s % 3600 == 0 { return "\(s / 3600)h" }
        if s > 0 && s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
