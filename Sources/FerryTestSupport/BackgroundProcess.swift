public import Foundation

#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which its Swift module does not export.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    else { return nil }
    return unsafeBitCast(
        symbol,
        to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self
    )
}()
#endif

/// A peer program running while a test talks to it (openssl s_server, gnutls-serv, dumpcap, ...): output goes
/// to a file, never a pipe; standard input is a pipe held open; `stop()` signals it and waits.
///
/// Started with posix_spawn rather than Foundation's `Process`: a child of a Swift test process otherwise
/// inherits a signal mask that blocks SIGINT and SIGTERM, so it could only be killed (losing what dumpcap had
/// not yet written).
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logFile: String
    private let stdinWriter: Int32
    private var exited = false

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        logFile =
            FileManager.default.temporaryDirectory.appendingPathComponent("ferry-bg-\(UUID().uuidString).log").path
        FileManager.default.createFile(atPath: logFile, contents: nil)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))") }
        stdinWriter = fds[1]
        _ = fcntl(stdinWriter, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_APPEND, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        Self.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables =
            (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in variables { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, variables)
        close(fds[0])
        guard status == 0 else {
            close(stdinWriter)
            throw SpawnFailure(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// A program that also ends when the test process does, however it ends (a crash, a kill, a test that never
    /// stops it): run under a small shell that holds this process's end of a pipe and, at end of file or on
    /// SIGTERM, stops the program (SIGKILL after 5 seconds) and removes `removing`, a folder it owned. For servers
    /// shared across tests, which nothing stops.
    public static func tiedToTestProcess(
        _ executable: String,
        _ arguments: [String],
        removing folder: String = ""
    ) throws -> BackgroundProcess {
        let script = """
            folder=$1; shift
            exec 3<&0
            "$@" </dev/null 3<&- &
            child=$!
            trap 'kill $child 2>/dev/null' TERM INT HUP
            cat <&3 >/dev/null 3<&- &
            watcher=$!
            wait $watcher
            kill $child $watcher 2>/dev/null
            ( sleep 5; kill -9 $child 2>/dev/null ) 3<&- &
            wait $child
            [ -n "$folder" ] && rm -rf "$folder"
            exit 0
            """
        return try BackgroundProcess("/bin/sh", ["-c", script, "ferry-tied", folder, executable] + arguments)
    }

    public struct SpawnFailure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Whether the program is still running (reaps it when it has ended).
    public var isRunning: Bool {
        guard !exited else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exited = true }
        return !exited
    }

    /// What the program printed so far.
    public var output: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Waits until the output contains `text`; false after `timeout` seconds or when the program ended.
    public func waitForOutput(_ text: String, timeout: Double = 10) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !isRunning { return output.contains(text) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Sends a signal without waiting (SIGHUP to make a server reload, say).
    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Sends `signal` (default SIGTERM) and waits for the exit, escalating to SIGKILL after 5 seconds.
    public func stop(signal: Int32 = SIGTERM) async {
        if isRunning { kill(pid, signal) }
        for _ in 0..<250 where isRunning {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exited = true
        }
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        close(stdinWriter)
        try? FileManager.default.removeItem(atPath: logFile)
    }
}

extension BackgroundProcess {
    /// Closes, in the child, every descriptor above standard error. The in-process servers' accepted sockets are
    /// not close-on-exec (SwiftNIO accepts without SOCK_CLOEXEC): a peer started while one was open kept a copy,
    /// so a connection the server closed stayed established until the peer exited, and its client never saw the
    /// close (the idle-connection test found 8 to 11 of 300 held that way in full runs). Foundation's `Process`
    /// closes them itself.
    fileprivate static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom {
            _ = addCloseFrom(&actions, 3)
            return
        }
        // Without closefrom: each descriptor open now (one opened between here and the spawn may still leak).
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
}
