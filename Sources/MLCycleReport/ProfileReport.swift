import MLCycleData
import MLCycleQuality
// TEMPORARY until the real renderer lands (same session); never committed.
public enum ProfileReport {
    public static func html(_ profile: TableProfile, title: String) -> String { "<!DOCTYPE html><title>\(title)</title>" }
}
