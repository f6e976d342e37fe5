// The header's one function is static inline; this file exists because a C target needs a source file.
#include "prefetch.h"
