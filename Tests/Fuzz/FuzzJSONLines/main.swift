import CFuzzerDriver
import Foundation

// libFuzzer runs fuzzJSONLines (LLVMFuzzerTestOneInput) on each input it makes (arguments: libFuzzer's, e.g. a corpus folder and -max_total_time=30).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
