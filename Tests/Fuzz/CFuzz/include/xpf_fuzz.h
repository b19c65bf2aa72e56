/* Hooks into the AddressSanitizer runtime for the fuzz targets (Tests/Fuzz). The runtime
 * is linked only into sanitizer builds; the symbols are weak, so a plain build links too
 * and the calls do nothing there. */
#ifndef XPF_FUZZ_H
#define XPF_FUZZ_H
#include <stddef.h>
#include <stdint.h>

/* ASan manual poisoning: bytes in a poisoned range fault on access. No-ops without ASan. */
void xpf_fuzz_poison(const void *addr, size_t size);
void xpf_fuzz_unpoison(const void *addr, size_t size);

#endif
