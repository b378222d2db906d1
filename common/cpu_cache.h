/* cpu_cache.h -- the size of this CPU's L2 cache, which sizes the featurizer's bands.
 *
 * The C library knows it on x86-64 (glibc asks CPUID), but Debian 12's glibc on ARM64
 * reports 0 for every cache. There the kernel still tells, from the firmware's tables, in
 * sysfs: CPU_CACHE_SYSFS/indexN/{level,type,size}, one directory per cache of CPU 0. So the
 * C library is asked first and sysfs second; 0 means neither knows (a guest whose
 * hypervisor describes no caches), and the caller picks its own default. */
#ifndef FS_CPU_CACHE_H
#define FS_CPU_CACHE_H

#include <stddef.h>

#define CPU_CACHE_SYSFS "/sys/devices/system/cpu/cpu0/cache"

/* Bytes of this CPU's L2 (data or unified): the C library's figure, else sysfs's, else 0. */
size_t cpu_cache_l2_bytes(void);

/* Bytes of the level-2 data or unified cache described under `dir` (CPU_CACHE_SYSFS or a
 * tree laid out like it); 0 if it describes none, or not in the kernel's format. */
size_t cpu_cache_l2_from_sysfs(const char *dir);

#endif
