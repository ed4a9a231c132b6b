// osslocal: a local OSS-compatible server. The embedded default backend of the
// ossmount demo, the peer of every end-to-end test, and the benchmark server.
import ArgumentParser
import BuildInfo
import Dispatch
import Foundation
import Logging
import OSSLocalServer

struct OSSLocal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osslocal",
        abstract: "A local OSS-compatible server (V1/V4 signatures, multipart, append, symlinks).",
        version: BuildInfo.line("osslocal"))

    @Option(help: "Directory for durable storage (created if missing).")
    var root: String?

    @Flag(help: "Keep everything in memory (for benchmarks); nothing survives a restart.")
    var memory = false

    @Option(help: "Address to listen on, HOST:PORT; port 0 picks a free port.")
    var listen = "127.0.0.1:9100"

    @Option(name: .customLong("bucket"), help: "A bucket to serve (repeatable).")
    var buckets: [String] = []

    @Option(help: "Access key id accepted (or OSSLOCAL_ACCESS_KEY_ID).")
    var accessKeyId: String?

    @Option(help: "Its secret; prefer OSSLOCAL_ACCESS_KEY_SECRET, which does not show in the process list.")
    var accessKeySecret: String?

    @Option(help: "STS token that must accompany the key (or OSSLOCAL_SECURITY_TOKEN).")
    var securityToken: String?

    @Flag(help: "Accept unsigned requests (for S3 peers such as s3fs and rclone).")
    var anonymous = false

    @Option(help: "Requests whose Host is BUCKET.<domain> address that bucket (virtual-hosted style).")
    var domain = "localhost"

    @Option(help: "Region that V4 signatures must be scoped to.")
    var region = "cn-hangzhou"

    @Option(help: "Serve HTTPS with this PEM certificate chain (with --tls-key).")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Serve HTTPS with a CA and a server certificate for localhost, 127.0.0.1 and *.localhost written into this directory (ca.pem is what clients trust).")
    var tlsSelfSigned: String?

    @Option(help: "With TLS: HTTPS on this HOST:PORT while --listen stays plain HTTP (port 0 picks one); without it --listen is HTTPS.")
    var tlsListen: String?

    @Option(help: "Serve STS AssumeRoleWithOIDC for this role ARN; the keys it issues are accepted here.")
    var stsRoleArn: String?

    @Option(help: "OIDC tokens the STS accepts, one per line (re-read on every call).")
    var stsOidcTokens: String?

    @Option(help: "Seconds the STS's keys stay valid.")
    var stsDuration: Double = 3600

    @Option(help: "Write one JSON line per request to this file.")
    var requestLog: String?

    @Option(help: "Inject faults, e.g. 500=0.05,503=0.02,reset=0.01,slow=200ms@0.05,truncate=0.01.")
    var faults: String?

    @Option(help: "Seed of the fault generator.")
    var faultSeed: UInt64 = 1

    func validate() throws {
        if root == nil && !memory { throw ValidationError("give --root DIR, or --memory") }
        if root != nil && memory { throw ValidationError("--root and --memory exclude each other") }
        if buckets.isEmpty { throw ValidationError("give at least one --bucket NAME") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil && tlsSelfSigned != nil { throw ValidationError("give --tls-cert/--tls-key or --tls-self-signed, not both") }
        if tlsListen != nil && tlsCert == nil && tlsSelfSigned == nil {
            throw ValidationError("--tls-listen needs --tls-cert/--tls-key or --tls-self-signed")
        }
        if (stsRoleArn == nil) != (stsOidcTokens == nil) {
            throw ValidationError("--sts-role-arn and --sts-oidc-tokens go together")
        }
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        var config = LocalServerConfig()
        config.root = root
        let hostPort = listen.split(separator: ":", omittingEmptySubsequences: false)
        guard hostPort.count == 2, let port = Int(hostPort[1]) else {
            throw ValidationError("--listen takes HOST:PORT, e.g. 127.0.0.1:9100")
        }
        config.host = String(hostPort[0])
        config.port = port
        config.buckets = buckets
        config.anonymous = anonymous
        config.domain = domain
        config.region = region
        config.requestLog = requestLog
        config.faultSeed = faultSeed
        if let faults { config.faults = try FaultSpec(parsing: faults) }
        if let tlsCert, let tlsKey { config.tls = TLSFiles(certificate: tlsCert, key: tlsKey) }
        if let tlsSelfSigned { config.tls = try TLSFiles.selfSigned(in: tlsSelfSigned) }
        if let tlsListen {
            let parts = tlsListen.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let port = Int(parts[1]), String(parts[0]) == config.host else {
                throw ValidationError("--tls-listen takes HOST:PORT on the --listen host, e.g. \(config.host):9443")
            }
            config.tlsPort = port
        }
        if let stsRoleArn, let stsOidcTokens {
            config.sts = LocalSTSConfig(roleArn: stsRoleArn, tokensFile: stsOidcTokens, duration: stsDuration)
        }
        if let id = accessKeyId ?? env["OSSLOCAL_ACCESS_KEY_ID"] {
            guard let secret = accessKeySecret ?? env["OSSLOCAL_ACCESS_KEY_SECRET"] else {
                throw ValidationError("--access-key-id needs a secret: set OSSLOCAL_ACCESS_KEY_SECRET")
            }
            config.accounts = [LocalAccount(accessKeyId: id, secret: secret,
                                            securityToken: securityToken ?? env["OSSLOCAL_SECURITY_TOKEN"])]
        } else if !anonymous {
            throw ValidationError("give --access-key-id (with OSSLOCAL_ACCESS_KEY_SECRET), or --anonymous")
        }
        if let root { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }

        let server = try LocalServer.start(config)
        var lines = ["osslocal listening on \(server.address)"]
        if config.tlsPort != nil, let https = server.tlsAddress { lines.append("osslocal listening on \(https)") }
        if let ca = config.tls?.authority { lines.append("osslocal CA certificate: \(ca) (server: \(config.tls!.certificate))") }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let queue = DispatchQueue(label: "signals")
        let sources = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        for s in sources {
            s.setEventHandler { server.stop() }
            s.resume()
        }
        try server.wait()
        withExtendedLifetime(sources) {}
    }
}

OSSLocal.main()
