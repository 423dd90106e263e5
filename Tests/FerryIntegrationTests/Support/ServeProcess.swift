import FerryTestSupport
import Foundation

/// `ferry serve` as a separate process, for tests that kill it (SIGKILL) and start it again.
final class ServeProcess {
    let process = Process()
    let port: Int
    let logFile: String

    /// What the server printed and logged so far.
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Starts `ferry serve --config CONFIG` in `directory` and waits for its banner (with `--no-listen` in
    /// `arguments`: for the queue's banner; `port` is then 0).
    init(config: String, directory: String, arguments: [String] = []) async throws {
        let queueOnly = arguments.contains("--no-listen")
        let log = directory + "/serve-\(UUID().uuidString.prefix(6)).log"
        logFile = log
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: try CLITests.ferry)
        process.arguments = ["serve", "--config", config] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        var banner = ""
        let ready = queueOnly ? "control socket" : "https://"
        for _ in 0..<300 where !banner.contains(ready) && process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            banner = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        if queueOnly, banner.contains(ready) {
            self.port = 0
            return
        }
        guard let url = banner.split(separator: " ").first(where: { $0.hasPrefix("https://") }),
            let port = Int(url.split(separator: ":").last ?? "")
        else {
            process.terminate()
            throw StartFailure(log: banner)
        }
        self.port = port
    }

    /// Writes `FOLDER/ferry.yaml` for a server on `port` (0: any) with the test PKI in `FOLDER/pki` and the
    /// root `FOLDER/root`; returns its path.
    static func writeConfig(in folder: String, port: Int) throws -> String {
        let config = folder + "/ferry.yaml"
        try """
        listen: 127.0.0.1:\(port)
        root: root
        server:
          tls: {certificate: pki/server.pem, key: pki/server-key.pem, ca: pki/ca.pem}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    struct StartFailure: Error, CustomStringConvertible {
        let log: String
        var description: String { "ferry serve did not start: \(log)" }
    }

    var pid: pid_t { process.processIdentifier }

    /// Kills the server without giving it any chance to clean up.
    func kill() async throws {
        Foundation.kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
