public import Foundation

/// Runs peer programs (curl, openssl, ...) for integration tests.
public enum ExternalTool {
    /// Whether the tests run in CI, where every tool must be present (nothing may be skipped).
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The absolute path of a program on PATH, or `nil`.
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// A tool the test needs: its path; or, when it is missing, an error in CI and `nil` (with a message saying
    /// the test is skipped) on a developer's machine.
    public static func require(_ name: String, installHint: String) throws -> String? {
        if let found = find(name) { return found }
        if isCI {
            throw MissingTool(name: name, hint: installHint)
        }
        print("note: '\(name)' is not installed; skipping this check here (CI installs it: \(installHint))")
        return nil
    }

    public struct MissingTool: Error, CustomStringConvertible {
        public let name: String
        public let hint: String
        public var description: String { "'\(name)' is required in CI but missing: \(hint)" }
    }

    /// The outcome of a finished process.
    public struct Outcome: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var output: String { stdout + stderr }
    }

    /// Runs a program to completion with a time limit, feeding `input` on standard input.
    public static func run(_ executable: String, _ arguments: [String], input: String = "", timeout: TimeInterval = 120, environment: [String: String]? = nil, directory: String? = nil) async throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try? stdin.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty program never blocks on a full pipe.
        async let out = Task.detached { stdout.fileHandleForReading.readDataToEndOfFile() }.value
        async let err = Task.detached { stderr.fileHandleForReading.readDataToEndOfFile() }.value
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: await out, as: UTF8.self), stderr: String(decoding: await err, as: UTF8.self))
    }
}
