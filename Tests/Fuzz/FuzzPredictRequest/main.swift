import CFuzzerDriver
import Foundation

// libFuzzer runs fuzzPredictRequest (LLVMFuzzerTestOneInput) on each input it makes (arguments: libFuzzer's, e.g. a corpus folder and -max_total_time=30).
// Trains the model first, so its time counts against no input's time limit.
_ = bundle
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
