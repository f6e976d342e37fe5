import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A read-only view of a file's bytes: memory-mapped when possible, so a large CSV is never copied.
final class MappedFile: @unchecked Sendable {
    let bytes: UnsafeBufferPointer<UInt8>
    private let mapped: Bool

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw DataError.fileNotFound(path: path) }
            throw DataError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DataError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw DataError.unreadableFile(path: path, reason: "it is a directory")
        }
        let size = Int(st.st_size)
        if (st.st_mode & S_IFMT) == S_IFREG, size > 0,
            let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED
        {
            _ = madvise(p, size, MADV_SEQUENTIAL)
            bytes = UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: size)
            mapped = true
            return
        }
        // Pipes, empty files and anything mmap refuses: read it.
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.unreadableFile(path: path, reason: "read failed")
        }
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(data.count, 1))
        _ = data.copyBytes(to: buffer)
        bytes = UnsafeBufferPointer(start: buffer.baseAddress, count: data.count)
        mapped = false
    }

    /// Wraps bytes held in memory (copied).
    init(copying data: some Collection<UInt8>) {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(data.count, 1))
        _ = buffer.initialize(from: data)
        bytes = UnsafeBufferPointer(start: buffer.baseAddress, count: data.count)
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        } else {
            UnsafeMutableBufferPointer(mutating: bytes).deallocate()
        }
    }
}

/// The `k`-th of `parts` consecutive, nearly equal ranges that together cover `0..<count` (how parallel work is cut).
@inlinable
public func slice(_ k: Int, of count: Int, into parts: Int) -> Range<Int> {
    count * k / parts..<count * (k + 1) / parts
}

/// Runs `body(i)` for `i` in `0..<count` on all cores when `count > 1`.
@inlinable
public func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count <= 1 {
        for i in 0..<count { body(i) }
    } else {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// A fixed set of slots, one per parallel task, each written by exactly one task.
final class ParallelSlots<T>: @unchecked Sendable {
    private let storage: SharedBuffer<T?>
    init(_ count: Int) { storage = SharedBuffer(count: count, initial: nil) }
    // Each index is written by one task only, and read after all tasks have finished.
    subscript(i: Int) -> T? {
        get { storage.pointer[i] }
        set { storage.pointer[i] = newValue }
    }
    var values: [T?] { storage.toArray() }
}

/// Raw storage written by several tasks at disjoint indices, then moved into an `Array`.
final class SharedBuffer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    let count: Int
    init(count: Int, initial: T) {
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: initial, count: max(count, 1))
        self.count = count
    }
    func toArray() -> [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    deinit {
        pointer.deinitialize(count: max(count, 1))
        pointer.deallocate()
    }
}

/// `body(i)` for `i` in `0..<count`, computed on all cores, results in order.
public func parallelMap<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = ParallelSlots<T>(count)
    parallelFor(count) { i in slots[i] = body(i) }
    return slots.values.map { $0! }
}

/// Runs two independent computations at once and returns both results.
public func inParallel<A, B>(_ a: @Sendable () -> A, _ b: @Sendable () -> B) -> (A, B) {
    let first = ParallelSlots<A>(1)
    let second = ParallelSlots<B>(1)
    parallelFor(2) { i in
        if i == 0 { first[0] = a() } else { second[0] = b() }
    }
    return (first[0]!, second[0]!)
}
