#include "xpf_fuzz.h"

/* Weak: resolved only when the sanitizer runtimes are linked in. */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *, size_t)) __attribute__((weak));
extern void __asan_poison_memory_region(const volatile void *addr, size_t size) __attribute__((weak));
extern void __asan_unpoison_memory_region(const volatile void *addr, size_t size) __attribute__((weak));

int xpf_fuzz_run_driver(int argc, char **argv, xpf_fuzz_callback cb)
{
	if (!LLVMFuzzerRunDriver)
		return -1;
	return LLVMFuzzerRunDriver(&argc, &argv, cb);
}

void xpf_fuzz_poison(const void *addr, size_t size)
{
	if (__asan_poison_memory_region)
		__asan_poison_memory_region(addr, size);
}

void xpf_fuzz_unpoison(const void *addr, size_t size)
{
	if (__asan_unpoison_memory_region)
		__asan_unpoison_memory_region(addr, size);
}
