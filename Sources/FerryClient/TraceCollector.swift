import FerryProtocol
public import FerryTrace
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Collects the handshake traces of a client's connections: prints each one as its connection closes
/// (`ferry send --trace`) and writes them all to one pcapng file at the end (`--pcapng FILE`).
public final class TraceCollector: Sendable {
    public let format: TLSTraceRenderer.Format?
    public let pcapngPath: String?
    private let output: @Sendable (String) -> Void
    private let recorders = NIOLockedValueBox([TLSFlightRecorder]())

    public init(format: TLSTraceRenderer.Format?, pcapngPath: String?, output: @escaping @Sendable (String) -> Void) {
        self.format = format
        self.pcapngPath = pcapngPath
        self.output = output
    }

    /// Called when a connection closes.
    func collect(_ record: TLSConnectionRecord, target: RemoteTarget) {
        guard !record.recorder.isEmpty else { return }
        if let format {
            let text = TLSTraceRenderer(localSide: .clientToServer).render(
                record.recorder.conversation(),
                format: format
            )
            output(
                format == .json
                    ? text : "TLS trace of the connection to \(target.authority) (-> sent by this client):\n" + text
            )
        }
        if pcapngPath != nil {
            recorders.withLockedValue { $0.append(record.recorder) }
        }
    }

    /// Writes the pcapng file, if one was asked for; returns its path.
    @discardableResult
    public func finish() throws -> String? {
        guard let pcapngPath else { return nil }
        let all = recorders.withLockedValue { $0 }
        var keys = TLSKeyLog()
        var connections: [PcapngWriter.Connection] = []
        for (index, recorder) in all.enumerated() {
            var (connection, keyLog) = recorder.handshakeCapture(refused: false)
            keys.merge(keyLog)
            if connection.client == connection.server || connection.client.port == 0 {
                connection.client = TCPEndpoint(address: "127.0.0.1", port: UInt16(50000 + index))
            }
            connections.append(connection)
        }
        let file = PcapngWriter().file(connections: connections, keyLog: keys)
        do {
            try SecretCaptureFile.write(file, to: pcapngPath)
        } catch {
            throw TransferError(.localIO, "\(error)")
        }
        return pcapngPath
    }
}
