// From a parsed command to a served mount: check the mountpoint, find
// credentials, reach the bucket (each failure one line saying what to fix),
// then mount and serve. In the background, the parent waits for the child's
// word on a pipe and for the mount to answer before it exits 0.
import CurlTransport
import Foundation
import FuseKit
import HTTPSeam
import Logging
import ObjectStore
import OSSClient
import VFS

public struct MountFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

enum Mounter {
    static func checkMountpoint(_ config: MountConfig) throws(MountFailure) {
        let path = config.mountpoint
        // A FUSE device opened by someone else (CSI drivers, unprivileged containers):
        // libfuse takes /dev/fd/N as it is.
        if path.hasPrefix("/dev/fd/") { return }
        let stale = "mountpoint \(path) is left from a mount whose daemon is gone: run fusermount3 -u \(path), then mount again"
        var st = stat()
        guard stat(path, &st) == 0 else {
            switch errno {
            case ENOENT: throw MountFailure("mountpoint \(path) does not exist: create it with mkdir -p \(path)")
            case ENOTCONN: throw MountFailure(stale)
            case let e: throw MountFailure("mountpoint \(path): \(String(cString: strerror(e)))")
            }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw MountFailure("mountpoint \(path) is not a directory") }
        if let type = mountedFilesystem(at: path) {
            // The kernel may answer a stat of a dead FUSE mount from its cache; a listing asks.
            if let dir = opendir(path) {
                closedir(dir)
            } else if errno == ENOTCONN {
                throw MountFailure(stale)
            }
            if !config.nonempty {
                throw MountFailure("\(path) is already mounted (\(type)): unmount it first with fusermount3 -u \(path), or pass -o nonempty to mount over it")
            }
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: config.mountpoint)) ?? []
        if !entries.isEmpty && !config.nonempty {
            throw MountFailure("mountpoint \(config.mountpoint) is not empty: empty it, or pass -o nonempty to mount over it")
        }
    }

    /// The file system type mounted exactly at `path`, if one is (from /proc/self/mountinfo).
    static func mountedFilesystem(at path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        let target = String(cString: real)
        free(real)
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in info.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[4].replacingOccurrences(of: "\\040", with: " ") == target,
                let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count
            else { continue }
            return String(fields[dash + 1])
        }
        return nil
    }

    /// Edits and seek-backs are staged here: it must be a writable directory.
    static func checkStagingDir(_ config: MountConfig) throws(MountFailure) {
        if config.readOnly { return }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: config.stagingDir, isDirectory: &isDir), isDir.boolValue else {
            throw MountFailure("staging_dir \(config.stagingDir) is not a directory: create it, or pass -o staging_dir=DIR")
        }
        guard access(config.stagingDir, W_OK | X_OK) == 0 else {
            throw MountFailure("staging_dir \(config.stagingDir) is not writable: pass -o staging_dir=DIR with a writable directory")
        }
    }

    static func credentials(_ config: MountConfig, transport: HTTPTransport) -> CredentialsProvider {
        var sources: [CredentialsProvider] = []
        if let id = config.accessKeyId, let secret = config.accessKeySecret {
            sources.append(StaticCredentialsProvider(Credentials(accessKeyId: id, accessKeySecret: secret,
                                                                 securityToken: config.securityToken)))
        }
        var env = ProcessInfo.processInfo.environment
        sources.append(EnvironmentCredentialsProvider(environment: env))
        // RRSA: options first, else what ACK injects into the pod.
        for (option, name) in [(config.roleArn, "ALIBABA_CLOUD_ROLE_ARN"),
                               (config.oidcProviderArn, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
                               (config.oidcTokenFile, "ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
                               (config.stsEndpoint, "ALIBABA_CLOUD_STS_ENDPOINT")] {
            if let option { env[name] = option }
        }
        if let oidc = OIDCRoleCredentialsProvider.fromEnvironment(env, transport: transport) {
            sources.append(CachingCredentialsProvider(oidc))
        }
        sources.append(CachingCredentialsProvider(CredentialsFileProvider(
            path: config.credentialsFile ?? "/mnt/.alibabacloud/credentials", required: config.credentialsFile != nil)))
        sources.append(CachingCredentialsProvider(PasswdFileProvider(
            path: config.passwdFile ?? "/etc/passwd-ossfs", bucket: config.bucket, required: config.passwdFile != nil)))
        if let role = config.ramRole {
            sources.append(CachingCredentialsProvider(ECSRoleCredentialsProvider(roleName: role, transport: transport)))
        }
        if let command = config.credentialProcess {
            sources.append(CachingCredentialsProvider(ProcessCredentialsProvider(command: command)))
        }
        return CredentialsChain(sources)
    }

    /// Builds the client and proves it works with a one-key listing.
    static func connect(_ config: MountConfig, logger: Logger, metrics: ClientMetrics = ClientMetrics()) async throws(MountFailure)
        -> (OSSClient, CurlTransport)
    {
        guard let endpointText = config.endpoint else {
            throw MountFailure("no endpoint: pass -o endpoint=oss-<region>.aliyuncs.com (or http://host:port for osslocal)")
        }
        let endpoint: OSSEndpoint
        do { endpoint = try OSSEndpoint(parsing: endpointText) } catch {
            throw MountFailure("endpoint \(endpointText): \(error)")
        }
        var options = CurlTransportOptions()
        options.caBundle = config.caBundle
        options.insecure = config.insecure
        let transport = CurlTransport(options: options, logger: logger)
        let version: SignatureVersion? = config.signatureVersion.map { $0 == 4 ? .v4 : .v1 }
        if version == .v4 && config.signingRegion == nil {
            throw MountFailure("sigv=4 needs a region: pass -o region=cn-hangzhou (or the bucket's region)")
        }
        let clientConfig = OSSClientConfig(endpoint: endpoint, bucket: config.bucket, region: config.signingRegion,
                                           signatureVersion: version)
        let client = OSSClient(config: clientConfig, transport: transport,
                               credentials: credentials(config, transport: transport), logger: logger, metrics: metrics)
        // The probe gives up fast: a wrong endpoint must fail the mount within seconds.
        var probeConfig = clientConfig
        probeConfig.retry = RetryPolicy(maxAttempts: 2, maxElapsed: .seconds(5), baseDelay: .milliseconds(200))
        let probe = OSSClient(config: probeConfig, transport: transport, credentials: client.credentials, logger: logger,
                              metrics: metrics)
        do {
            _ = try await probe.listObjects(ListRequest(prefix: config.prefix, delimiter: "/", maxKeys: 1))
        } catch let e as ObjectStoreError {
            transport.shutdown()
            throw MountFailure(explain(e, config: config, endpoint: endpoint))
        } catch {
            transport.shutdown()
            throw MountFailure("cannot list bucket \(config.bucket): \(error)")
        }
        return (client, transport)
    }

    static func explain(_ e: ObjectStoreError, config: MountConfig, endpoint: OSSEndpoint) -> String {
        switch e {
        case .transport(let t) where t.kind == .tls:
            return tlsProblem(t.description, endpoint: "\(endpoint)", caBundle: config.caBundle)
        case .transport(let t):
            return "cannot reach endpoint \(endpoint) (\(t)): check -o endpoint and the network"
        case .service(let s) where s.requestId == nil && s.hostId == nil:
            // Every OSS answer carries a request id: this server is something else.
            return "\(endpoint) is not an OSS endpoint (HTTP \(s.status) without an x-oss-request-id): check -o endpoint"
        case .credentials(let text):
            return text + "; set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, or -o passwd_file / credentials_file / ram_role, or RRSA (ALIBABA_CLOUD_ROLE_ARN, _OIDC_PROVIDER_ARN, _OIDC_TOKEN_FILE)"
        case .service(let s) where s.code == "SignatureDoesNotMatch":
            return "SignatureDoesNotMatch: the access key secret is wrong for \(config.bucket) (RequestId \(s.requestId ?? "-"))"
        case .service(let s) where s.code == "NoSuchBucket":
            return "NoSuchBucket: bucket \(config.bucket) does not exist at \(endpoint)"
        case .service(let s) where s.code == "InvalidAccessKeyId":
            return "InvalidAccessKeyId: the access key id is not known to \(endpoint)"
        case .service(let s):
            return "\(s.code): \(s.message) (bucket \(config.bucket) at \(endpoint))"
        default:
            return "cannot list bucket \(config.bucket): \(e)"
        }
    }

    /// One line for a failed TLS handshake that says which check failed and what to do,
    /// from curl's (OpenSSL's) wording.
    static func tlsProblem(_ detail: String, endpoint: String, caBundle: String?) -> String {
        let text = detail.lowercased()
        let trust = caBundle.map { "the CA in ca_bundle \($0)" } ?? "the system's CAs"
        if text.contains("expired") || text.contains("not yet valid") {
            return "TLS: the certificate of \(endpoint) has expired or is not yet valid (\(detail)); renew it on the server, or -o insecure to skip verification"
        }
        if text.contains("subject name") || text.contains("host name") || text.contains("hostname") {
            return "TLS: the certificate of \(endpoint) is not for that host name (\(detail)); use the endpoint name the certificate names, or -o insecure to skip verification"
        }
        if text.contains("ca cert") || text.contains("cafile") || text.contains("certificate file") {
            return "TLS: ca_bundle \(caBundle ?? "-") cannot be read as PEM CA certificates (\(detail)); pass -o ca_bundle=FILE with the CA's PEM"
        }
        if text.contains("issuer") || text.contains("self-signed") || text.contains("self signed") || text.contains("verify") {
            return "TLS: the certificate of \(endpoint) is not signed by \(trust) (\(detail)); pass -o ca_bundle=FILE with its CA (PEM), or -o insecure to skip verification"
        }
        return "TLS handshake with \(endpoint) failed (\(detail)); check -o endpoint, ca_bundle and insecure"
    }

    static func vfsConfig(_ config: MountConfig) -> VFSConfig {
        var v = VFSConfig()
        v.prefix = config.prefix
        v.attrTimeout = config.attrTimeout
        v.entryTimeout = config.entryTimeout
        v.negativeTimeout = config.negativeTimeout
        v.statCacheSize = config.maxStatCacheSize
        v.closeToOpen = config.closeToOpen
        v.uid = config.uid ?? getuid()
        v.gid = config.gid ?? getgid()
        v.uidFromCaller = config.uid == nil
        v.gidFromCaller = config.gid == nil
        v.umask = config.umask
        v.fileMode = config.fileMode
        v.dirMode = config.dirMode
        v.keepCache = config.kernelCache || config.autoCache
        v.readOnly = config.readOnly
        v.prefetchChunkSize = config.prefetchChunkSize
        // direct_io: the kernel keeps no pages of files, so there is nothing to fill.
        v.randomFill = config.directIO ? 0 : config.randomFill
        v.prefetchConcurrency = config.prefetchConcurrencyPerFile
        v.prefetchBudget = config.prefetchBudget
        v.mimeTypesFile = config.mimeTypesFile
        v.totalMemLimit = config.poolLimit
        v.uploadBufferSize = config.uploadBufferSize
        v.uploadConcurrency = config.uploadConcurrency
        v.stagingDirectory = config.stagingDir
        v.stagingMax = UInt64(config.stagingMax)
        v.ignoreFsync = config.ignoreFsync
        v.seekableWrites = config.seekableWrites
        v.seekableMax = config.seekableMax.map { UInt64($0) }
        v.listAhead = config.listAhead
        v.xattr = config.xattr
        v.appendMode = config.appendMode
        v.appendFlushInterval = config.appendFlushInterval
        return v
    }

    static func fuseOptions(_ config: MountConfig) -> [String] {
        var o = ["fsname=ossmount:\(config.bucket)", "subtype=ossmount"].filter { opt in
            !config.fuseOptions.contains { $0.hasPrefix(opt.split(separator: "=")[0] + "=") }
        }
        o += config.fuseOptions
        // No set-uid programs or device files from a bucket (`dev`/`suid` are not taken).
        if !o.contains("nosuid") { o.append("nosuid") }
        if !o.contains("nodev") { o.append("nodev") }
        if config.readOnly { o.append("ro") }
        if config.allowOther {
            o.append("allow_other")
            // Other users must not read mode-600 files or remove others' files: the kernel
            // checks mode and owner unless asked not to.
            if !config.noDefaultPermissions && !o.contains("default_permissions") { o.append("default_permissions") }
        }
        return o
    }
}

#if canImport(Glibc)
import Glibc
#endif
