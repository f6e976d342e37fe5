/// This build of mlcycle.
public enum MLCycleVersion {
    /// The version written into model files, bundles, stage cache keys and `mlcycle --version`.
    public static let current = "0.1.0"
}
