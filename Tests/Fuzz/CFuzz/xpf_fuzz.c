#include "xpf_fuzz.h"

/* Weak: resolved only when the sanitizer runtime is linked in. */
extern void __asan_poison_memory_region(const volatile void *addr, size_t size) __attribute__((weak));
extern void __asan_unpoison_memory_region(const volatile void *addr, size_t size) __attribute__((weak));

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
