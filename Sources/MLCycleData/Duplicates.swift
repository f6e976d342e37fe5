extension Table {
    /// For each row, whether an identical row (missing equals missing) comes earlier.
    public func duplicateMask() -> [Bool] {
        let n = rowCount
        var hashes = [UInt64](repeating: 0xCBF2_9CE4_8422_2325, count: n)
        hashes.withUnsafeMutableBufferPointer { h in
            for c in columns {
                let valid = c.validity
                @inline(__always) func mix(_ r: Int, _ v: UInt64) {
                    var x = h[r] ^ (valid?[r] ?? true ? v : 0x5555_5555_5555_5555)
                    x = x &* 0x9E37_79B9_7F4A_7C15
                    h[r] = x ^ (x >> 29)
                }
                switch c.storage {
                case .float64(let v): for r in 0..<n { mix(r, v[r] == 0 ? 0 : v[r].bitPattern) }
                case .int64(let v), .date(let v), .timestamp(let v): for r in 0..<n { mix(r, UInt64(bitPattern: v[r])) }
                case .bool(let v): for r in 0..<n { mix(r, v[r] ? 1 : 2) }
                case .string(let codes, _): for r in 0..<n { mix(r, UInt64(codes[r])) }
                }
            }
        }
        // Sort rows by hash (stable, so earlier rows come first among equal hashes); only rows that share a
        // hash are compared value by value.
        let order = RadixSort.argsort(hashes)
        var mask = [Bool](repeating: false, count: n)
        var i = 0
        while i < n {
            var j = i + 1
            while j < n && hashes[Int(order[j])] == hashes[Int(order[i])] { j += 1 }
            if j - i > 1 {
                var distinct = [Int(order[i])]  // first row of each distinct value in this hash group
                for k in (i + 1)..<j {
                    let r = Int(order[k])
                    if distinct.contains(where: { rowsEqual($0, r) }) { mask[r] = true } else { distinct.append(r) }
                }
            }
            i = j
        }
        return mask
    }

    /// Number of rows identical to an earlier row (pandas' `duplicated().sum()`).
    public func duplicateRowCount() -> Int {
        duplicateMask().reduce(0) { $0 + ($1 ? 1 : 0) }
    }

    func rowsEqual(_ a: Int, _ b: Int) -> Bool {
        for c in columns {
            let va = c.isValid(a)
            let vb = c.isValid(b)
            if va != vb { return false }
            if !va { continue }
            switch c.storage {
            case .float64(let v): if !(v[a] == v[b] || (v[a].isNaN && v[b].isNaN)) { return false }
            case .int64(let v), .date(let v), .timestamp(let v): if v[a] != v[b] { return false }
            case .bool(let v): if v[a] != v[b] { return false }
            case .string(let codes, _): if codes[a] != codes[b] { return false }
            }
        }
        return true
    }
}
