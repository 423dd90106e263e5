#if canImport(Glibc)
import Glibc
#endif

/// glibc's allocator, set for a server with many uploads in flight.
///
/// glibc serves allocations above its mmap threshold with mmap, but raises the threshold to the size of each
/// such block freed, up to 32 MiB: after the first uploads the buffers of TLS, the HTTP decoder and the file
/// writer all come from the heap, where hundreds of uploads in flight leave it fragmented and resident. A fixed
/// threshold of 1 MiB keeps the heap for the small and middle-sized buffers (fast) and stops the drift.
/// Measured with 64 and 256 concurrent 32 MiB curl uploads onto disk (with one socket read per event-loop
/// turn and the 256 KiB staging buffer of `GatheringFileWriter`): 1.6 MiB of server memory per upload in
/// flight; with the threshold left to move, ~5 MiB; fixed at 128 KiB, 0.7–1.1 MiB but a 1 GiB upload took 3.5 s
/// instead of 2.4 (an mmap and its page faults for every buffer of 128 KiB or more). docs/performance.md.
enum AllocatorSettings {
    /// Fixes the mmap threshold (process-wide; once is enough, again is harmless). An operator's own
    /// `MALLOC_MMAP_THRESHOLD_` in the environment wins.
    static func apply() {
        #if canImport(Glibc)
        guard getenv("MALLOC_MMAP_THRESHOLD_") == nil, let mallopt else { return }
        _ = mallopt(mmapThreshold, 1 << 20)
        #endif
    }

    /// `M_MMAP_THRESHOLD` of <malloc.h>.
    static let mmapThreshold: Int32 = -3

    /// glibc's mallopt(3), which Glibc's module map leaves out (<malloc.h>): looked up once; nil on other C
    /// libraries.
    private static let mallopt: (@convention(c) (Int32, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "mallopt") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()
}
