/*
 * Unit tests of the per-request arena (gateway/gw_arena.c): every allocation is 16-aligned and
 * writable for its size without touching another; the inline chunk is used first (a request that
 * needs less than GW_ARENA_INLINE allocates nothing), then malloc'd chunks of 4 KiB, and an
 * allocation larger than a chunk gets one of its own size; gw_arena_free gives back every chunk
 * (checked here with glibc's allocation counters; the ASan build's leak check sees it too) and
 * leaves the arena ready for use again; a size that cannot be allocated aborts rather than
 * coming back short.
 */
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "gw_arena.h"

/* ASan keeps its own heap (glibc's counters do not see it) and checks for leaks itself. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static int aligned(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

static int inline_chunk(const gw_arena_t *a, const void *p, size_t size)
{
    return (const char *)p >= a->first && (const char *)p + size <= a->first + sizeof(a->first);
}

static void test_inline_chunk_first(void)
{
    gw_arena_t a;
    gw_arena_init(&a);
    CHECK(a.chunks == NULL);
    /* 64 allocations of 16 bytes fill the 1 KiB inline chunk exactly, in order */
    char *prev = NULL;
    for (int i = 0; i != GW_ARENA_INLINE / 16; ++i) {
        char *p = gw_arena_alloc(&a, 16);
        CHECK(inline_chunk(&a, p, 16));
        CHECK(prev == NULL || p == prev + 16);
        prev = p;
    }
    CHECK(a.chunks == NULL);
    /* the next one needs a malloc'd chunk */
    char *p = gw_arena_alloc(&a, 1);
    CHECK(!inline_chunk(&a, p, 1));
    CHECK(a.chunks != NULL);
    CHECK(aligned(p));
    gw_arena_free(&a);
    /* odd sizes are rounded up to 16: 1 + 17 + 15 take 16 + 32 + 16 */
    gw_arena_init(&a);
    char *x = gw_arena_alloc(&a, 1), *y = gw_arena_alloc(&a, 17), *z = gw_arena_alloc(&a, 15);
    CHECK(x == a.first);
    CHECK(y == x + 16);
    CHECK(z == y + 32);
    /* what is left of the inline chunk is used before a malloc'd one */
    char *rest = gw_arena_alloc(&a, GW_ARENA_INLINE - 64);
    CHECK(rest == z + 16);
    CHECK(a.chunks == NULL);
    gw_arena_free(&a);
}

static void test_alignment_and_no_overlap(void)
{
    gw_arena_t a;
    gw_arena_init(&a);
    enum { N = 600 };
    unsigned char *ptrs[N];
    size_t sizes[N];
    for (int i = 0; i != N; ++i) {
        sizes[i] = (size_t)(i * 37 % 301) + (i % 50 == 0 ? 5000 : 0);
        ptrs[i] = gw_arena_alloc(&a, sizes[i]);
        CHECK(ptrs[i] != NULL);
        CHECK(aligned(ptrs[i]));
        memset(ptrs[i], i & 0xff, sizes[i]);
    }
    /* nothing written later overwrote anything written before */
    int intact = 1;
    for (int i = 0; i != N; ++i)
        for (size_t k = 0; k != sizes[i]; ++k)
            intact &= ptrs[i][k] == (unsigned char)(i & 0xff);
    CHECK(intact);
    gw_arena_free(&a);
}

/* A malloc'd chunk holds 4 KiB: 256 allocations of 16 bytes, then another chunk. */
static void test_chunks_of_4k(void)
{
    gw_arena_t a;
    gw_arena_init(&a);
    gw_arena_alloc(&a, GW_ARENA_INLINE);
    char *first = gw_arena_alloc(&a, 16);
    gw_arena_chunk_t *chunk = a.chunks;
    CHECK(chunk != NULL);
    for (int i = 1; i != 4096 / 16; ++i) {
        char *p = gw_arena_alloc(&a, 16);
        CHECK(p == first + 16 * i);
    }
    CHECK(a.chunks == chunk);
    char *next = gw_arena_alloc(&a, 16);
    CHECK(a.chunks != chunk);
    CHECK(next < first || next >= first + 4096);
    gw_arena_free(&a);
}

static void test_big_allocations(void)
{
    gw_arena_t a;
    gw_arena_init(&a);
    char *small = gw_arena_alloc(&a, 10);
    /* larger than the inline chunk and than a malloc'd one: a chunk of its own, writable whole
     * (ASan would see a write past a shorter chunk) */
    size_t big = 100000;
    char *p = gw_arena_alloc(&a, big);
    CHECK(!inline_chunk(&a, p, 1));
    CHECK(aligned(p));
    memset(p, 0xab, big);
    CHECK(a.cap == big);
    CHECK(p[0] == (char)0xab && p[big - 1] == (char)0xab);
    char *q = gw_arena_alloc(&a, 5000);
    CHECK(aligned(q));
    memset(q, 0xcd, 5000);
    CHECK(p[big - 1] == (char)0xab);
    CHECK(q + 5000 <= p || q >= p + big);
    CHECK(small == a.first); /* untouched */
    /* exactly a chunk's size */
    char *c = gw_arena_alloc(&a, 4096);
    memset(c, 1, 4096);
    gw_arena_free(&a);
}

static void test_zero_size(void)
{
    gw_arena_t a;
    gw_arena_init(&a);
    void *p = gw_arena_alloc(&a, 0);
    CHECK(p != NULL);
    CHECK(aligned(p));
    gw_arena_free(&a);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static void test_free_gives_everything_back(void)
{
    size_t before = heap_in_use();
    gw_arena_t a;
    gw_arena_init(&a);
    for (int i = 0; i != 1000; ++i)
        gw_arena_alloc(&a, (size_t)i * 7);
    gw_arena_alloc(&a, 1 << 20);
#ifndef UNDER_ASAN
    CHECK(heap_in_use() > before + (1 << 20));
#endif
    gw_arena_free(&a);
#ifndef UNDER_ASAN
    CHECK_EQ_U64(heap_in_use(), before);
#else
    (void)before;
#endif
    /* freed, the arena is as new: the inline chunk again, nothing malloc'd */
    CHECK(a.chunks == NULL);
    CHECK(a.used == 0);
    void *p = gw_arena_alloc(&a, 100);
    CHECK(p == a.first);
    CHECK(a.chunks == NULL);
    gw_arena_free(&a);
    gw_arena_free(&a); /* twice: nothing left to give */
    CHECK(a.chunks == NULL);
    CHECK(gw_arena_alloc(&a, 16) == a.first);
    gw_arena_free(&a);
}

static void test_init_over_garbage(void)
{
    gw_arena_t a;
    memset(&a, 0xa5, sizeof(a));
    gw_arena_init(&a);
    CHECK(a.chunks == NULL);
    CHECK(gw_arena_alloc(&a, 32) == a.first);
    CHECK(gw_arena_alloc(&a, 2000) != NULL);
    gw_arena_free(&a);
}

/* ASan's malloc dies on a size it cannot serve; glibc's returns NULL, which gw_arena must turn
 * into its own abort. Returning NULL here too lets one test see that path in both builds. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* Does allocating `size` end a child process with gw_arena's own "out of memory" and SIGABRT
 * (rather than coming back, or crashing on a chunk shorter than it thinks)? ASan may warn on
 * stderr first that it failed to allocate. */
static int dies_out_of_memory(size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        gw_arena_t a;
        gw_arena_init(&a);
        gw_arena_alloc(&a, size);
        _exit(0);
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, "sluice: out of memory\n") != NULL;
}

static void test_sizes_that_cannot_be_allocated_abort(void)
{
    /* rounded up to 16, these wrap around to a few bytes: they must not come back as such */
    CHECK(dies_out_of_memory(SIZE_MAX));
    CHECK(dies_out_of_memory(SIZE_MAX - 14));
    /* these round to a size that wraps around once a chunk's header (16 bytes) is added: the
     * largest, SIZE_MAX - 30, rounds to SIZE_MAX - 15, and 16 more make 0 */
    CHECK(dies_out_of_memory(SIZE_MAX - 15));
    CHECK(dies_out_of_memory(SIZE_MAX - 29));
    CHECK(dies_out_of_memory(SIZE_MAX - 30));
    CHECK(dies_out_of_memory(SIZE_MAX - 100));
    /* no wrap-around, but more than malloc can give */
    CHECK(dies_out_of_memory(SIZE_MAX / 2));
    CHECK(dies_out_of_memory(SIZE_MAX - 31));
}

int main(void)
{
    test_inline_chunk_first();
    test_alignment_and_no_overlap();
    test_chunks_of_4k();
    test_big_allocations();
    test_zero_size();
    test_free_gives_everything_back();
    test_init_over_garbage();
    test_sizes_that_cannot_be_allocated_abort();
    return CHECK_SUMMARY();
}
