#ifndef MLCYCLE_PREFETCH_H
#define MLCYCLE_PREFETCH_H

/// Asks the CPU to start loading the cache line at `address` for reading (a hint: never faults, may be ignored).
/// Swift has no prefetch intrinsic; histogram building gathers rows far apart and uses this to overlap the misses.
static inline void mlcycle_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
