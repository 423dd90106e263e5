import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The peers tests start in the background must not keep copies of the test process's descriptors: an in-process
/// server's accepted socket held by a peer stays open after the server closes it, and Foundation's `Process`
/// learns that its child ended when the last copy of a socket the child holds closes, so a copy held by a
/// long-lived peer (a shared S3 or PostgreSQL server) made `waitUntilExit` wait for ever.
@Suite("Background peers")
struct BackgroundProcessTests {
    @Test(
        "a peer started in the background holds standard input, output and error, and nothing else of the test process"
    )
    func noInheritedDescriptors() async throws {
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer {
            close(pipeEnds[0])
            close(pipeEnds[1])
            close(socketDescriptor)
        }
        // None of the three is close-on-exec, as SwiftNIO's accepted sockets are not.
        for fd in pipeEnds + [socketDescriptor] { #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC == 0) }
        let peer = try BackgroundProcess("/bin/ls", ["-l", "/proc/self/fd"])
        for _ in 0..<500 where peer.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!peer.isRunning)
        // "lrwx------ 1 root root 64 Dec  7 10:43 3 -> /proc/1234/fd": the number before the arrow.
        let held = peer.output.split(separator: "\n").compactMap { line -> Int32? in
            guard let arrow = line.range(of: " -> ") else { return nil }
            return Int32(line[..<arrow.lowerBound].split(separator: " ").last ?? "")
        }
        #expect(held.contains(0) && held.contains(1) && held.contains(2), "\(peer.output)")
        // 0, 1 and 2, and the folder ls itself opened to list them.
        #expect(held.count == 4, "the peer holds descriptors it did not open: \(peer.output)")
        for fd in pipeEnds + [socketDescriptor] where fd > 3 {
            #expect(!held.contains(fd), "the peer holds the test process's descriptor \(fd): \(peer.output)")
        }
    }
}
