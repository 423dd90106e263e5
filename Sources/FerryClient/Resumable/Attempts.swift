/// The attempts of one transfer in one run: how many, where each started, and where the first found the
/// transfer (what earlier runs had done). Both state machines keep one; the result reports it.
struct Attempts: Sendable {
    /// Attempts made (1 for the first).
    private(set) var count = 1
    /// The offset each attempt started from.
    private(set) var offsets: [Int64] = []
    /// Where the first attempt started.
    var resumedFrom: Int64? { offsets.first }

    /// An attempt starts sending or receiving at `offset`.
    mutating func started(at offset: Int64) { offsets.append(offset) }

    /// Another attempt begins after a wait.
    mutating func retried() { count += 1 }
}

extension TransferResult {
    /// The run's attempts and the bytes that moved in it.
    mutating func note(_ attempts: Attempts, movedThisRun: Int64) {
        resumedFrom = attempts.resumedFrom ?? 0
        sentThisRun = movedThisRun
        self.attempts = attempts.count
        attemptOffsets = attempts.offsets
    }
}
