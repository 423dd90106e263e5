import FerryQueue
import FerryTestSupport

/// Opens a queue store in a temporary folder for `body` and closes it however `body` ends (an SQLite connection
/// must be closed before it goes: a failed expectation must not take the test process down with it).
func withQueueStore(_ body: (SQLiteQueueStore, String) async throws -> Void) async throws {
    try await TemporaryDirectory.with("ferry-queue") { folder in
        let store = try await SQLiteQueueStore.open(path: folder.path + "/queue.sqlite")
        do {
            try await body(store, folder.path)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }
}
