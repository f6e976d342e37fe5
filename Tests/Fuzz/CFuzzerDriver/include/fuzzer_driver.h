#ifndef MLCYCLE_FUZZER_DRIVER_H
#define MLCYCLE_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt), for a program that has a main of its own: SwiftPM links an executable's main
/// under its own name, so each fuzz target's main.swift hands its entry point to this.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// The fuzz target's entry point: each fuzz target defines it in Swift with @_cdecl.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
