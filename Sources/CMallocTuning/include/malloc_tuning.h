#ifndef MLCYCLE_MALLOC_TUNING_H
#define MLCYCLE_MALLOC_TUNING_H
/// Keeps freed large blocks in the process for reuse instead of returning them to the kernel (glibc only;
/// a no-op elsewhere). mlcycle allocates and frees column-sized buffers many times over, and by default each
/// new one page-faults freshly zeroed memory.
void mlcycle_keep_freed_memory(void);
#endif
