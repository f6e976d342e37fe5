// MLCyclePrep: transformers with fit/transform (dedup, impute, encode, scale, derived-feature expressions),
// splitters and the fitted PreparationPipeline that travels inside the model bundle.
// Depends on MLCycleData only. Built by the preparation-and-evaluation issue; empty until then.
