import Foundation
import Synchronization
import Testing

@testable import FerryObjectStore

/// A value shared by the tasks of a test.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout sending Value) -> sending T) -> T { value.withLock(body) }
}

@Suite("The object store's request gate")
struct RequestGateTests {
    @Test("never more than its limit at once; the others run in the order they came, and all of them run")
    func limitAndOrder() async throws {
        let gate = RequestGate(limit: 3)
        let running = Shared((now: 0, most: 0, order: [Int](), done: 0, allArrived: false))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await gate.withPlace {
                        running.withLock {
                            $0.now += 1
                            $0.most = max($0.most, $0.now)
                            $0.order.append(index)
                        }
                        // Each holds its place until all twenty have come, however slowly the machine runs them.
                        while !running.withLock({ $0.allArrived }) { try await Task.sleep(for: .milliseconds(1)) }
                        running.withLock {
                            $0.now -= 1
                            $0.done += 1
                        }
                    }
                }
                // Arrivals in a known order.
                while gate.counts.inFlight + gate.counts.waiting + running.withLock({ $0.done }) < index + 1 {
                    await Task.yield()
                }
            }
            running.withLock { $0.allArrived = true }
            try await group.waitForAll()
        }
        let seen = running.withLock { $0 }
        #expect(seen.most == 3)
        #expect(seen.order == Array(0..<20))
        #expect(gate.counts == (0, 0))
    }

    @Test("a waiter that is cancelled leaves the line and never runs; the place it waited for goes to the next")
    func cancelledWaiter() async throws {
        let gate = RequestGate(limit: 1)
        let release = AsyncStream<Void>.makeStream()
        let holder = Task { try await gate.withPlace { for await _ in release.stream { break } } }
        while gate.counts.inFlight < 1 { await Task.yield() }
        let ran = Shared(false)
        let waiter = Task { try await gate.withPlace { ran.withLock { $0 = true } } }
        while gate.counts.waiting < 1 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(gate.counts.waiting == 0)
        release.continuation.yield()
        try await holder.value
        #expect(!ran.withLock { $0 })
        // The place is free again.
        #expect(try await gate.withPlace { 7 } == 7)
        #expect(gate.counts == (0, 0))
    }

    @Test(
        "a larger limit (fewer nodes sharing the store) lets waiters in at once; a smaller one lets requests in flight finish and admits no more until they are under it"
    )
    func resized() async throws {
        let gate = RequestGate(limit: 1)
        let released = Shared([false, false, false, false])
        let order = Shared([Int]())
        func settle(_ expected: (Int, Int)) async throws {
            for _ in 0..<5_000 where gate.counts != expected { try await Task.sleep(for: .milliseconds(1)) }
            #expect(gate.counts == expected)
        }
        let tasks = (0..<4).map { index in
            Task {
                try await gate.withPlace {
                    order.withLock { $0.append(index) }
                    while !released.withLock({ $0[index] }) { try await Task.sleep(for: .milliseconds(1)) }
                }
            }
        }
        try await settle((1, 3))
        gate.setLimit(3)
        try await settle((3, 1))
        gate.setLimit(1)
        try await settle((3, 1))
        // Admitted is not yet running: wait until the three are inside.
        for _ in 0..<5_000 where order.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(1)) }
        let first = order.withLock { $0 }
        try #require(first.count == 3)
        // Two of the three leave: still at the lowered limit or over it, so the waiter stays out.
        released.withLock { $0[first[0]] = true }
        try await settle((2, 1))
        released.withLock { $0[first[1]] = true }
        try await settle((1, 1))
        released.withLock { $0[first[2]] = true }
        try await settle((1, 0))
        released.withLock { $0 = [true, true, true, true] }
        for task in tasks { try await task.value }
        #expect(gate.counts == (0, 0))
        #expect(gate.limit == 1)
    }
}
