import ArgumentParser
import MLCycleEvaluate
import MLCycleLearn
import MLCycleProject

// The libraries' closed lists, taken as option values: ArgumentParser checks them and lists the choices in help
// and in its error.
extension LearnerKind: ExpressibleByArgument {}
extension Task: ExpressibleByArgument {}
extension TuningOptions.Search: ExpressibleByArgument {}
extension Stage: ExpressibleByArgument {}
extension ProjectTemplate: ExpressibleByArgument {}
