// Background mode without fork(): the command starts itself again (posix_spawn,
// new session, standard streams on /dev/null or the log file) with a pipe on
// which the child writes "ok" once mounted or "error: ..." when it gave up. The
// parent exits 0 only after "ok" and a stat of the mountpoint that the new
// mount answers.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum Daemon {
    /// The background child is started through /proc/self/exe, so the kernel names it
    /// "exe" (what top, `pgrep -x` and killall match). It takes the command's name back
    /// first thing, before its threads start (they inherit the name).
    static func takeCommandName() {
        var name = [UInt8](repeating: 0, count: 32)
        let fd = open("/proc/self/comm", O_RDONLY)
        guard fd >= 0 else { return }
        let n = name.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard n > 0, name[0..<n].elementsEqual("exe\n".utf8) else { return }
        let out = open("/proc/self/comm", O_WRONLY)
        guard out >= 0 else { return }
        let command = Array("ossmount".utf8)
        _ = command.withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
        close(out)
    }

    static func report(_ fd: Int32, _ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// The directory holding `path` ("m" → ".", "/a/b/" → "/a", "/m" → "/"). Foundation's
    /// `deletingLastPathComponent` traps on a one-letter relative path.
    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    static func startInBackground(arguments: [String], mountpoint: String) -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return OSSMount.fail("cannot create a pipe: \(String(cString: strerror(errno)))", fd: nil) }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        var parentDevice = stat()
        _ = stat(parentDirectory(of: mountpoint), &parentDevice)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // glibc's POSIX_SPAWN_SETSID (0x80): its header hides it behind _GNU_SOURCE.
        posix_spawnattr_setflags(&attr, 0x80)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        let childArgs = ["ossmount"] + arguments + ["--ready-fd", String(writeEnd)]
        var argv: [UnsafeMutablePointer<CChar>?] = childArgs.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, &argv, environ)
        close(writeEnd)
        guard rc == 0 else { return OSSMount.fail("cannot start the daemon: \(String(cString: strerror(rc)))", fd: nil) }

        // Wait for the child's word (60 s: a slow endpoint gets its retries).
        var message = ""
        var pfd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(60)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = poll(&pfd, 1, 1000)
            if n <= 0 { continue }
            let got = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if got <= 0 { break }
            message += String(decoding: buffer[0..<got], as: UTF8.self)
            if message.hasSuffix("\n") { break }
        }
        close(readEnd)
        let line = message.trimmingCharacters(in: .whitespacesAndNewlines)
        if line == "ok" {
            // The mount answers once a stat shows a device other than its parent's.
            for _ in 0..<100 {
                var st = stat()
                if stat(mountpoint, &st) == 0 && st.st_dev != parentDevice.st_dev { return 0 }
                usleep(50_000)
            }
            FileHandle.standardError.write(Data("ossmount: mounted, but \(mountpoint) does not answer\n".utf8))
            return 1
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let reason = line.hasPrefix("error: ") ? String(line.dropFirst(7)) : "the daemon exited before mounting"
        FileHandle.standardError.write(Data("ossmount: \(reason)\n".utf8))
        return 1
    }
}
