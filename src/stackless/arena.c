/* arena.c — a bounded cache of 16 KiB frame-stack blocks in front of CPython's
 * object arena allocator.
 *
 * Why: on CPython 3.11+ every started greenlet (so every tasklet that runs)
 * gets its own frame-stack chunk ("datastack chunk", 16 KiB) from
 * _PyObject_VirtualAlloc, a thin wrapper over the object arena allocator,
 * which on Linux is one mmap() per chunk; greenlet gives the chunk back through
 * the same allocator when the greenlet ends (one munmap()), and the next
 * tasklet faults the pages in again. That system-call pair and the page faults
 * are most of the cost of creating, running and finishing a tasklet. This file
 * keeps freed 16 KiB blocks on a LIFO free list and hands them out again.
 *
 * What it owns: the wrapper allocator installed with PyObject_SetArenaAllocator
 * (once per process, from the module's exec), the saved original allocator,
 * and the free list. Every request of another size is passed to the original
 * allocator untouched (pymalloc's arenas, larger frame chunks).
 *
 * Invariants and hazards:
 * - Every block on the free list came from the ORIGINAL allocator with size
 *   BLOCK_SIZE, whether it was allocated before or after installation: a block
 *   is only ever handed back to the original allocator's free() with that same
 *   size, so blocks allocated before installation are safe to cache and reuse.
 * - The original allocator returns zeroed memory (mmap); a reused block holds
 *   old data. CPython's users of this allocator (pymalloc arenas, datastack
 *   chunks) initialise the headers they use and never rely on zeroing.
 * - The free list is bounded (CACHE_MAX blocks: 16 MiB of address space, about
 *   4 MiB resident, as a block usually has one touched page): a burst of a hundred
 *   thousand tasklets ending does not pin their memory; the rest is released.
 * - Callers hold the GIL. An interpreter with its own GIL (3.12+ subinterpreters)
 *   shares this process-wide allocator, so the list is also guarded by a spin
 *   lock; uncontended it costs one atomic exchange.
 * - STACKLESS_NO_ARENA=1 in the environment leaves the interpreter's allocator
 *   alone (to measure what the cache buys, or to rule it out).
 * - The wrapper is never uninstalled: blocks it handed out may be freed at any
 *   time until the process ends, and freeing them through it stays correct.
 *   The cached blocks are left to the operating system at exit.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "stackless_impl.h"

#define BLOCK_SIZE ((size_t)16 * 1024) /* CPython's DATA_STACK_CHUNK_SIZE */
#define CACHE_MAX 1024

typedef struct free_block {
    struct free_block *next;
} free_block;

static struct {
    int installed;
    PyObjectArenaAllocator original;
    atomic_flag lock;
    free_block *head; /* LIFO: the most recently freed block is the warmest */
    size_t cached;    /* blocks on the list, <= CACHE_MAX */
    /* counters, for tests and the benchmark */
    unsigned long long hits;     /* 16 KiB requests served from the list */
    unsigned long long misses;   /* 16 KiB requests passed to the original */
    unsigned long long released; /* 16 KiB frees passed on (list full) */
} arena = {.lock = ATOMIC_FLAG_INIT};

static inline void
arena_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&arena.lock, memory_order_acquire)) {
        /* spin: the critical sections are a few instructions long */
    }
}

static inline void
arena_unlock(void)
{
    atomic_flag_clear_explicit(&arena.lock, memory_order_release);
}

static void *
arena_alloc(void *Py_UNUSED(ctx), size_t size)
{
    if (size == BLOCK_SIZE) {
        arena_lock();
        free_block *b = arena.head;
        if (b != NULL) {
            arena.head = b->next;
            arena.cached--;
            arena.hits++;
            arena_unlock();
            return b;
        }
        arena.misses++;
        arena_unlock();
    }
    return arena.original.alloc(arena.original.ctx, size);
}

static void
arena_free(void *Py_UNUSED(ctx), void *ptr, size_t size)
{
    if (ptr != NULL && size == BLOCK_SIZE) {
        arena_lock();
        if (arena.cached < CACHE_MAX) {
            free_block *b = (free_block *)ptr;
            b->next = arena.head;
            arena.head = b;
            arena.cached++;
            arena_unlock();
            return;
        }
        arena.released++;
        arena_unlock();
    }
    arena.original.free(arena.original.ctx, ptr, size);
}

/* _arena_stats() -> dict
 *
 * The cache's state: installed, block_size, cache_max, cached, hits, misses,
 * released. For tests and the benchmark; not part of the Stackless API. */
static PyObject *
arena_stats(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    arena_lock();
    size_t cached = arena.cached;
    unsigned long long hits = arena.hits, misses = arena.misses, released = arena.released;
    arena_unlock();
    return Py_BuildValue("{s:O,s:n,s:n,s:n,s:K,s:K,s:K}",
                         "installed", arena.installed ? Py_True : Py_False,
                         "block_size", (Py_ssize_t)BLOCK_SIZE,
                         "cache_max", (Py_ssize_t)CACHE_MAX,
                         "cached", (Py_ssize_t)cached,
                         "hits", hits, "misses", misses, "released", released);
}

/* _arena_trim() -> int
 *
 * Give every cached block back to the original allocator; returns how many. */
static PyObject *
arena_trim(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    arena_lock();
    free_block *b = arena.head;
    size_t n = arena.cached;
    arena.head = NULL;
    arena.cached = 0;
    arena_unlock();
    while (b != NULL) {
        free_block *next = b->next;
        arena.original.free(arena.original.ctx, b, BLOCK_SIZE);
        b = next;
    }
    return PyLong_FromSize_t(n);
}

static PyMethodDef arena_methods[] = {
    {"_arena_stats", arena_stats, METH_NOARGS,
     "_arena_stats() -> dict\n\nState of the 16 KiB frame-stack block cache (for tests)."},
    {"_arena_trim", arena_trim, METH_NOARGS,
     "_arena_trim() -> int\n\nRelease every cached block; return how many."},
    {NULL, NULL, 0, NULL},
};

/* Install the cache (first call in the process only) and add _arena_stats and
 * _arena_trim to the module. Called from the module's exec with the GIL held.
 * Returns 0, or -1 with an exception set. */
int
slp_arena_install(PyObject *module)
{
    const char *off = getenv("STACKLESS_NO_ARENA");   /* for A/B measurements */
    if (!arena.installed && !(off != NULL && off[0] != '\0' && off[0] != '0')) {
        PyObject_GetArenaAllocator(&arena.original);
        if (arena.original.alloc == NULL || arena.original.free == NULL) {
            /* Nothing sane to delegate to: leave the interpreter's allocator alone. */
            return PyModule_AddFunctions(module, arena_methods);
        }
        PyObjectArenaAllocator wrapper = {NULL, arena_alloc, arena_free};
        PyObject_SetArenaAllocator(&wrapper);
        arena.installed = 1;
    }
    return PyModule_AddFunctions(module, arena_methods);
}
