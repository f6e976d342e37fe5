import MLCycleData

/// The records of the keys a live lookup was asked for most recently: at most `capacity` keys, each used for `ttl`
/// seconds after it was read (a key with no record is kept too, so an unknown address does not reach the database on
/// every request). Written here because swift-collections has no LRU: a dictionary over a doubly linked list of
/// slots, so a hit, an insert and an eviction each take constant time.
struct RecordCache {
    let capacity: Int
    let ttl: Double
    private var slots = [Slot]()
    private var index = [[Value]: Int]()
    /// Most and least recently used slot (-1: none).
    private var head = -1
    private var tail = -1

    private struct Slot {
        var key: [Value]
        var rows: [[Value]]
        var expires: Double
        var previous: Int
        var next: Int
    }

    init(capacity: Int, ttl: Double) {
        self.capacity = max(1, capacity)
        self.ttl = ttl
    }

    var count: Int { index.count }

    /// The rows read for `key` (empty: it has none), or nil when the key is not cached or its time is up.
    mutating func rows(_ key: [Value], now: Double) -> [[Value]]? {
        guard let i = index[key] else { return nil }
        guard slots[i].expires > now else { return nil }
        unlink(i)
        pushFront(i)
        return slots[i].rows
    }

    /// Keeps `rows` for `key` until `now + ttl`, evicting the least recently used key when full.
    mutating func store(_ key: [Value], rows: [[Value]], now: Double) {
        guard ttl > 0 else { return }
        if let i = index[key] {
            slots[i].rows = rows
            slots[i].expires = now + ttl
            unlink(i)
            pushFront(i)
            return
        }
        let i: Int
        if index.count < capacity {
            i = slots.count
            slots.append(Slot(key: key, rows: rows, expires: now + ttl, previous: -1, next: -1))
        } else {
            i = tail
            unlink(i)
            index[slots[i].key] = nil
            slots[i] = Slot(key: key, rows: rows, expires: now + ttl, previous: -1, next: -1)
        }
        index[key] = i
        pushFront(i)
    }

    /// Forgets every key (the query's columns changed).
    mutating func removeAll() {
        slots.removeAll()
        index.removeAll()
        (head, tail) = (-1, -1)
    }

    private mutating func unlink(_ i: Int) {
        let (p, n) = (slots[i].previous, slots[i].next)
        if p >= 0 { slots[p].next = n } else { head = n }
        if n >= 0 { slots[n].previous = p } else { tail = p }
        slots[i].previous = -1
        slots[i].next = -1
    }

    private mutating func pushFront(_ i: Int) {
        slots[i].next = head
        if head >= 0 { slots[head].previous = i }
        head = i
        if tail < 0 { tail = i }
    }
}
