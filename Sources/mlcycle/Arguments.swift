import ArgumentParser
import MLCycleEvaluate
import MLCycleLearn
import MLCycleProject
import MLCycleQuality

// The libraries' closed lists, taken as option values: ArgumentParser checks them and lists the choices in help
// and in its error.
extension LearnerKind: ExpressibleByArgument {}
extension Task: ExpressibleByArgument {}
extension TuningOptions.Search: ExpressibleByArgument {}
extension Stage: ExpressibleByArgument {}
extension ProjectTemplate: ExpressibleByArgument {}
extension ModelExport.Format: ExpressibleByArgument {}

/// Which columns a profile's correlation matrices cover: `top:N` (at most N numeric and N categorical) or `all`.
struct CorrelationColumns: ExpressibleByArgument {
    /// nil: every column.
    var limit: Int?

    init(limit: Int?) { self.limit = limit }

    init?(argument: String) {
        if argument == "all" {
            limit = nil
        } else if argument.hasPrefix("top:"), let n = Int(argument.dropFirst(4)), n >= 2 {
            limit = n
        } else {
            return nil
        }
    }

    var defaultValueDescription: String { limit.map { "top:\($0)" } ?? "all" }
}
