// The command lines users already know, parsed by hand, because the mount helper
// passes `-o a,b=c` and `-oro` forms that a general-purpose parser does not take:
//   ossmount BUCKET[:/PREFIX] MOUNTPOINT [-o opt[,opt...]] [-f] [-c FILE]   (ossfs 1.x, mount(8))
//   ossmount MOUNTPOINT -o uri=oss://BUCKET/PREFIX/ [-o ...]                (JindoFuse)
//   ossmount mount MOUNTPOINT --oss_bucket=B --name=value ... [-c FILE]     (ossfs 2.0)

public struct CommandLineError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

public struct MountCommand: Sendable, Equatable {
    public var bucket = ""
    public var prefix = ""
    public var mountpoint = ""
    /// `-o` options in order; a flag has a nil value.
    public var options: [(name: String, value: String?)] = []
    public var foreground = false
    public var configFile: String?
    /// Internal: the fd on which a background child reports readiness.
    public var readyFD: Int32?
    public var showHelp = false
    /// Print the effective options and exit (to see what a preset means).
    public var printConfig = false
    public var showVersion = false
    /// Given in ossfs 2.0's form (`mount MOUNTPOINT --name=value`).
    public var ossfs2Form = false

    public static func == (a: MountCommand, b: MountCommand) -> Bool {
        a.bucket == b.bucket && a.prefix == b.prefix && a.mountpoint == b.mountpoint
            && a.options.map { "\($0.name)=\($0.value ?? "")" } == b.options.map { "\($0.name)=\($0.value ?? "")" }
            && a.foreground == b.foreground && a.configFile == b.configFile
    }

    /// Splits `a,b=c,d` into options (a backslash escapes a comma).
    static func splitOptions(_ text: String) -> [(name: String, value: String?)] {
        var items: [String] = [], current = "", escaped = false
        for c in text {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "," { items.append(current); current = ""; continue }
            current.append(c)
        }
        items.append(current)
        return items.filter { !$0.isEmpty }.map { item in
            guard let eq = item.firstIndex(of: "=") else { return (item, nil) }
            return (String(item[..<eq]), String(item[item.index(after: eq)...]))
        }
    }

    /// `name=value` or `name` of a `--name=value` argument (its dashes dropped).
    static func longOption(_ text: Substring) -> (name: String, value: String?) {
        guard let eq = text.firstIndex(of: "=") else { return (String(text), nil) }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    public static func parse(_ args: [String]) throws(CommandLineError) -> MountCommand {
        var cmd = MountCommand()
        var args = args
        if args.first == "mount" {
            args.removeFirst()
            cmd.ossfs2Form = true
        }
        var positional: [String] = []
        var i = 0
        func next(_ flag: String) throws(CommandLineError) -> String {
            i += 1
            guard i < args.count else { throw CommandLineError("\(flag) needs a value") }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "-o": cmd.options += splitOptions(try next("-o"))
            case "-f", "--foreground": cmd.foreground = true
            case "-d": cmd.foreground = true; cmd.options.append(("log_level", "debug"))
            case "-s": break  // single-threaded: accepted for compatibility, ignored
            case "--config", "-c": cmd.configFile = try next(a)
            case "--ready-fd": cmd.readyFD = Int32(try next(a))
            case "--f" where cmd.ossfs2Form: cmd.foreground = true
            case "--d" where cmd.ossfs2Form: cmd.foreground = true; cmd.options.append(("log_level", "debug"))
            case "-h", "--help": cmd.showHelp = true
            case "--print-config": cmd.printConfig = true
            case "-V", "--version": cmd.showVersion = true
            default:
                if a.hasPrefix("-o") && a.count > 2 {
                    cmd.options += splitOptions(String(a.dropFirst(2)))
                } else if a.hasPrefix("--config=") {
                    cmd.configFile = String(a.dropFirst("--config=".count))
                } else if cmd.ossfs2Form && a.hasPrefix("--") && a.count > 2 {
                    let o = longOption(a.dropFirst(2))
                    if ["f", "d"].contains(o.name), try MountConfig.bool(o.name, o.value) {
                        cmd.foreground = true
                        if o.name == "d" { cmd.options.append(("log_level", "debug")) }
                    } else if !["f", "d"].contains(o.name) {
                        cmd.options.append(o)
                    }
                } else if a.hasPrefix("-") && a.count > 1 {
                    throw CommandLineError("unknown flag \(a) (see ossmount --help)")
                } else {
                    positional.append(a)
                }
            }
            i += 1
        }
        if cmd.showHelp || cmd.showVersion { return cmd }
        // One positional: the mountpoint, the bucket from an option (ossfs 2.0's
        // --oss_bucket, JindoFuse's uri), checked once the options are read.
        if positional.count == 1 {
            cmd.mountpoint = positional[0]
            return cmd
        }
        guard positional.count == 2, !cmd.ossfs2Form else {
            throw CommandLineError(cmd.ossfs2Form ? "usage: ossmount mount MOUNTPOINT --oss_bucket=BUCKET --oss_endpoint=URL ..."
                                   : "usage: ossmount BUCKET[:/PREFIX] MOUNTPOINT [-o opt[,opt...]] [-f] [--config FILE]")
        }
        (cmd.bucket, cmd.prefix) = splitTarget(positional[0])
        guard !cmd.bucket.isEmpty else { throw CommandLineError("no bucket given: ossmount BUCKET[:/PREFIX] MOUNTPOINT") }
        cmd.mountpoint = positional[1]
        return cmd
    }

    /// `bucket`, `bucket:/prefix`, `bucket/prefix`, `oss://bucket/prefix/` → bucket and
    /// a prefix that is empty or ends with "/".
    static func splitTarget(_ text: String) -> (bucket: String, prefix: String) {
        var target = Substring(text)
        if target.hasPrefix("oss://") { target = target.dropFirst(6) }
        var bucket = target, prefix: Substring = ""
        if let cut = target.firstIndex(where: { $0 == ":" || $0 == "/" }) {
            bucket = target[..<cut]
            prefix = target[target.index(after: cut)...]
        }
        return (String(bucket), normalizedPrefix(String(prefix)))
    }

    static func normalizedPrefix(_ text: String) -> String {
        var prefix = Substring(text)
        while prefix.hasPrefix("/") { prefix = prefix.dropFirst() }
        return prefix.isEmpty || prefix.hasSuffix("/") ? String(prefix) : prefix + "/"
    }

    public static let help = """
        usage: ossmount BUCKET[:/PREFIX] MOUNTPOINT [-o opt[,opt...]] [-f] [--config FILE]
               ossmount MOUNTPOINT -o uri=oss://BUCKET/PREFIX/ [-o ...]         (JindoFuse's form)
               ossmount mount MOUNTPOINT --oss_bucket=B --oss_endpoint=E [...]  (ossfs 2.0's form)

        Mounts an OSS bucket (or a prefix of it) at MOUNTPOINT. Runs in the background
        and returns once the mount answers; -f stays in the foreground (sidecars).

          -o endpoint=URL        OSS endpoint (oss-cn-hangzhou.aliyuncs.com, http://127.0.0.1:9100)
          -o region=NAME         sign with Signature V4 for this region
          -o ro                  read-only mount
          -o attr_timeout=SEC    keep metadata this long (entry_timeout, negative_timeout too)
          -o close_to_open       revalidate a file on every open
          -o allow_other         let other users see the mount
          -o passwd_file=FILE    credentials as bucket:ak:sk (also credentials_file, ram_role,
                                 credential_process; or OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET)
          -c, --config FILE      options from a JSON file, a PAI Advanced Configuration
                                 (fs.jindo.args, fs.ossfs.args, fs.oss.*), or an ossfs 2.0
                                 flag file (--name=value lines); -o options win
          ossfs 2.0, ossfs 1.x and JindoFuse options are mapped, or accepted with a warning
          --print-config         show the effective options and exit
          -V, --version          print the version and the commit it was built from

        ossmount uploads list|abort BUCKET[:/PREFIX] [--older-than 24h | --all] -o endpoint=...
          shows (or aborts) incomplete multipart uploads, e.g. left by a killed daemon;
          abort needs --older-than or --all (live mounts elsewhere write the young ones)
        ossmount stats MOUNTPOINT [--watch [SECONDS]] [--raw]
          a running mount's requests, latency, bytes, memory, open files and failures
          (-o metrics_addr=127.0.0.1:PORT serves them to Prometheus)
        Every option, with defaults and ossfs/JindoFuse equivalents: docs/CONFIGURATION.md
        """
}
