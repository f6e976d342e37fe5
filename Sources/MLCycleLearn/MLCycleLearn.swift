// MLCycleLearn: learners behind one protocol (linear, logistic, tree, forest, histogram gradient boosting,
// k-means), tuning and model serialisation. Depends on MLCycleData only. Built by the learners issue; empty until then.
