import Foundation
import Testing

@testable import MLCycleStore

/// The ids the server gives answered rows: version 7 UUIDs that Foundation reads back, ordered by time.
@Suite struct PredictionIDTests {
    @Test func anIdIsAVersion7UUIDCarryingItsMillisecond() throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000.125)
        let id = PredictionRecord.newID(at: at)
        #expect(id.count == 36 && id == id.lowercased())
        let uuid = try #require(UUID(uuidString: id), "\(id) is not a UUID")
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7, "version nibble of \(id)")
        #expect(bytes[8] >> 6 == 0b10, "variant bits of \(id)")
        let millis = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(millis == 1_800_000_000_125)
    }

    @Test func idsMadeLaterSortLaterAndNeverRepeat() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        // Two milliseconds apart, each well inside its millisecond.
        let ids = (0..<2_000).map { PredictionRecord.newID(at: start.addingTimeInterval(Double($0) * 0.002 + 0.0005)) }
        let outOfOrder = zip(ids, ids.dropFirst()).filter { $0 >= $1 }
        #expect(outOfOrder.isEmpty, "\(outOfOrder.prefix(3))")
        #expect(Set(ids).count == ids.count)
        let sameMillisecond = (0..<2_000).map { _ in PredictionRecord.newID(at: start) }
        #expect(Set(sameMillisecond).count == sameMillisecond.count)
        // A request's ids come from one seeded sequence: distinct within it, and across requests.
        let batches = (0..<20).flatMap { _ in PredictionRecord.newIDs(1_000, at: start) }
        #expect(Set(batches).count == batches.count && batches.allSatisfy { UUID(uuidString: $0) != nil })
    }
}
