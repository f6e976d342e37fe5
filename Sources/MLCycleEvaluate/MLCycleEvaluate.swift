// MLCycleEvaluate: metrics, slices, fairness comparisons, feature importance and gates.
// Depends on MLCycleLearn. Built by the preparation-and-evaluation issue; empty until then.
