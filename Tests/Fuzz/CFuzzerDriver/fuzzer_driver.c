// Declarations only (include/fuzzer_driver.h): libFuzzer itself is linked by -sanitize=fuzzer.
#include "fuzzer_driver.h"
