/* Hooks into the libFuzzer and AddressSanitizer runtimes for xpf-fuzz (Tests/Fuzz).
 * Both runtimes are linked only into a `--sanitize=fuzzer,address` build; the symbols are
 * weak, so a plain build links too and these calls report that the runtime is absent. */
#ifndef XPF_FUZZ_H
#define XPF_FUZZ_H
#include <stddef.h>
#include <stdint.h>

typedef int (*xpf_fuzz_callback)(const uint8_t *data, size_t size);

/* Runs libFuzzer's driver (LLVMFuzzerRunDriver) with argc/argv and `cb`; returns its exit
 * status, or -1 when the binary was built without -sanitize=fuzzer. */
int xpf_fuzz_run_driver(int argc, char **argv, xpf_fuzz_callback cb);

/* ASan manual poisoning: bytes in a poisoned range fault on access. No-ops without ASan. */
void xpf_fuzz_poison(const void *addr, size_t size);
void xpf_fuzz_unpoison(const void *addr, size_t size);

#endif
