// CSV.swift's reader under a name of its own: its module and SwiftCSV's class are both called `CSV`, and its
// `CSVReader` is also the name of mlcycle's.
import CSV
import Foundation

typealias CSVSwiftReader = CSVReader
