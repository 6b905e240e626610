/* malloccount: an LD_PRELOAD shim that counts heap calls, for M10 of
 * scripts/bench (heap allocations per routed message).
 *   MALLOCCOUNT_FILE=PATH LD_PRELOAD=build/malloccount.so SERVER ...
 * At load it creates PATH (32 bytes: four little-endian uint64 counters:
 * allocations (malloc, calloc, aligned allocations), reallocs, frees of a
 * non-NULL pointer, bytes requested) and maps it shared, so another process
 * reads the counters at any moment without signals or threads in the
 * server. The calls themselves go to glibc's __libc_* entry points (no
 * dlsym, which may allocate). Without MALLOCCOUNT_FILE it counts nothing.
 * Ownership: the mapping lives until the process exits; nothing is freed. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);
void *__libc_memalign(size_t alignment, size_t size);

enum { COUNT_ALLOCS, COUNT_REALLOCS, COUNT_FREES, COUNT_BYTES, COUNTERS };

static uint64_t *counters;      /* the shared mapping, or NULL: not counting */

__attribute__((constructor)) static void malloccount_init(void)
{
    const char *path = getenv("MALLOCCOUNT_FILE");
    if (!path || !*path)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t size = COUNTERS * sizeof(uint64_t);
    if (ftruncate(fd, (off_t)size) == 0) {
        void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map != MAP_FAILED)
            counters = map;
        unsetenv("MALLOCCOUNT_FILE");   /* children do not reset the counters */
    }
    close(fd);
}

static void count(int which, uint64_t n)
{
    if (counters)
        __atomic_fetch_add(&counters[which], n, __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
    count(COUNT_ALLOCS, 1);
    count(COUNT_BYTES, size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count(COUNT_ALLOCS, 1);
    count(COUNT_BYTES, (uint64_t)n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    count(p ? COUNT_REALLOCS : COUNT_ALLOCS, 1);
    count(COUNT_BYTES, size);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        count(COUNT_FREES, 1);
    __libc_free(p);
}

void *memalign(size_t alignment, size_t size)
{
    count(COUNT_ALLOCS, 1);
    count(COUNT_BYTES, size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    void *p = memalign(alignment, size);
    if (!p && size)
        return ENOMEM;
    *out = p;
    return 0;
}
