/*
 * stackless_impl.h -- the internal header of the _stackless C core.
 *
 * Owns: the object layouts (tasklet, channel, bomb), the per-thread scheduler
 * state (SlpThread), the module state, and the prototypes that tie the files
 * together:
 *
 *   module.c     module glue: state, heap types, module functions, PyInit
 *   scheduler.c  per-thread scheduler: run queue, schedule_task, blocking,
 *                deadlock rules, tasklet end, watchdogs / run(), timeouts,
 *                thread registry and thread-death detection
 *   tasklet.c    the tasklet type
 *   channel.c    the channel type
 *   bomb.c       the bomb type and exception <-> bomb helpers
 *   switch.c     every call into greenlet's C API (greenlet.h keeps its API
 *                table in a static per C file, so no other file includes it)
 *   preempt.c    the tick counter of run(timeout): a C trace function (3.11)
 *                or a sys.monitoring tool of our own (3.12+)
 *
 * Threading model: every structure here is only read or written with the GIL
 * held.  The only place that releases the GIL is the thread block in
 * scheduler.c (and Python code we call: callbacks, error handler, __del__).
 *
 * Reference ownership (the invariants everything else relies on):
 *   - A tasklet in a run queue is owned (one strong reference) by that queue.
 *   - A tasklet blocked on a channel is owned by the channel's queue.
 *   - SlpThread.main is an extra strong reference to the main tasklet.
 *   - SlpThread.current is borrowed: it is always the head of the run queue
 *     (or NULL while the thread is idle / blocked with an empty queue).
 *   - A started, not yet finished tasklet owns (strong) the greenlet it runs on.
 */
#ifndef STACKLESS_IMPL_H
#define STACKLESS_IMPL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pythread.h>
#include <stdint.h>

/* Everything declared below is internal to the extension (PyInit is exported
 * by PyMODINIT_FUNC): calls between our files are direct, not through PLT
 * stubs, on the switch and channel paths. */
#if defined(__GNUC__) && !defined(_WIN32)
#  pragma GCC visibility push(hidden)
#  define SLP_VISIBILITY_PUSHED
#endif

#if defined(__GNUC__)
#  define SLP_LIKELY(x)   __builtin_expect(!!(x), 1)
#  define SLP_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* rare paths kept out of line: they would otherwise enlarge the stack frames
 * that a blocked tasklet keeps on its saved C stack */
#  define SLP_COLD __attribute__((noinline, cold))
#else
#  define SLP_LIKELY(x)   (x)
#  define SLP_UNLIKELY(x) (x)
#  define SLP_COLD
#endif

typedef struct slp_state slp_state;
typedef struct SlpThread SlpThread;
typedef struct Tasklet Tasklet;
typedef struct Channel Channel;

/* ------------------------------------------------------------------ */
/* Flags                                                                */
/* ------------------------------------------------------------------ */

/* tasklet flags (Tasklet.flags) */
#define TF_BLOCKED_SEND   (1u << 0)   /* blocked on a channel, sending    */
#define TF_BLOCKED_RECV   (1u << 1)   /* blocked on a channel, receiving  */
#define TF_BLOCKED        (TF_BLOCKED_SEND | TF_BLOCKED_RECV)
#define TF_ATOMIC         (1u << 2)
#define TF_IGNORE_NESTING (1u << 3)
#define TF_BLOCK_TRAP     (1u << 4)
#define TF_PENDING_IRQ    (1u << 5)
#define TF_STARTED        (1u << 6)   /* its function has been entered     */
#define TF_KWARGS         (1u << 7)   /* args holds the pair (args, kwargs) */
#define TF_ZOMBIE         (1u << 8)   /* being killed from its finalizer    */
#define TF_TRACED         (1u << 9)   /* has saved trace/profile functions (SlpThread.traces) */
#define TF_LINKED         (1u << 10)  /* on SlpThread.started: u.s is valid, not u.c */
/* flags that travel with a pickle (Stackless' public flag bits) */
#define TF_PICKLED (TF_ATOMIC | TF_IGNORE_NESTING | TF_BLOCK_TRAP)

/* channel flags (Channel.flags) */
#define CF_IS_CHANNEL     (1u << 31)  /* marks a channel when used as list head */
#define CF_CLOSING        (1u << 0)
#define CF_SCHEDULE_ALL   (1u << 1)
#define CF_PREF_SHIFT     2           /* preference + 1 in bits 2..3 */
#define CF_PREF_MASK      (3u << CF_PREF_SHIFT)

/* run flags (SlpThread.runflags), as Stackless' watchdog flags */
#define RF_THREADBLOCK    (1u << 0)
#define RF_SOFT           (1u << 1)
#define RF_IGNORE_NESTING (1u << 2)
#define RF_TOTALTIMEOUT   (1u << 3)
#define RF_NO_SOFT_IRQ    (1u << 4)

/* ------------------------------------------------------------------ */
/* Objects                                                              */
/* ------------------------------------------------------------------ */

/*
 * A tasklet.  Kept small on purpose: a million unstarted tasklets must fit in
 * 150 MB, so nothing here is allocated before it is needed.
 *
 * The queue links come first so that a Channel (which starts the same way)
 * can serve as the head of the circular list of its blocked tasklets.
 *
 * State is derived, never stored twice:
 *   bound, not set up : tempval holds the callable, func == args == NULL
 *   set up (unstarted): func and args set, greenlet NULL
 *   started           : greenlet set (the worker greenlet, or the thread's
 *                       main greenlet for the main tasklet)
 *   dead              : TF_STARTED and greenlet == NULL
 */
struct Tasklet {
    PyObject_HEAD
    Tasklet *next, *prev;   /* run queue or channel queue; NULL if neither */
    uint32_t flags;
    uint32_t preempt_epoch; /* 3.12+: SlpThread.preempt_epoch when its frames'
                               code was last brought up to date (preempt.c) */
    Channel *chan;          /* borrowed: the channel it is blocked on, set iff
                               TF_BLOCKED (slp_channel_insert/remove keep it),
                               so unlinking from the middle of a channel's
                               queue is O(1).  Valid because a channel drops
                               every blocked tasklet before it dies. */
    PyObject *tempval;      /* value passed through a switch (or bomb) */
    union {
        struct {
            PyObject *func; /* callable, until the tasklet starts */
            PyObject *args; /* tuple (or (args, kwargs) with TF_KWARGS) */
        } c;
        struct {            /* once started (TF_LINKED): links of the list of
                               started tasklets of its thread (SlpThread.started),
                               killed when the thread ends */
            Tasklet *next, *prev;
        } s;
    } u;
    PyObject *greenlet;     /* the greenlet running it, once started */
    SlpThread *thread;      /* its thread (C reference counted); NULL = none */
    PyObject *context;      /* contextvars.Context to start in, until started */
    PyObject *weakreflist;
};

struct Channel {
    PyObject_HEAD
    Tasklet *next, *prev;   /* head/tail of the blocked tasklets (circular,
                               the channel itself is the sentinel) */
    uint32_t flags;         /* CF_IS_CHANNEL always set */
    int32_t balance;        /* > 0: senders waiting, < 0: receivers */
    PyObject *weakreflist;
};

#define SLP_IS_CHANNEL_NODE(t) (((t)->flags & CF_IS_CHANNEL) != 0)
#define CHANNEL_AS_NODE(c) ((Tasklet *)(c))

typedef struct {
    PyObject_HEAD
    PyObject *type;
    PyObject *value;
    PyObject *traceback;
} Bomb;

/* ------------------------------------------------------------------ */
/* Per-thread scheduler state                                           */
/* ------------------------------------------------------------------ */

/* Idle worker greenlets kept per thread.  A reused worker costs ~2 us less per
 * tasklet than one created and retired (~10 us less without arena.c); an idle
 * one holds ~5.5 KB (greenlet, one frame-stack page, parked C stack), so the
 * pool is at most ~5.6 MB per thread (docs/performance.md, appendix, section B). */
#define SLP_POOL_MAX 1024

struct SlpThread {
    Py_ssize_t refcnt;          /* registry + tasklets bound to this thread */
    slp_state *st;              /* valid while `module` is referenced */
    PyObject *module;           /* strong: keeps the module state alive */
    PyThreadState *tstate;      /* NULL once the thread has ended */
    unsigned long thread_id;
    int alive;
    SlpThread *reg_next, *reg_prev;   /* registry (module state), GIL protected */

    Tasklet *main;              /* strong */
    Tasklet *current;           /* borrowed: head of the run queue */
    Py_ssize_t runcount;

    PyObject *watchdogs;        /* list: [interrupt watchdog or None, w1, w2...] */
    PyObject *interrupted;      /* tasklet interrupted by a timeout (strong) */
    PyObject *del_post_switch;  /* released by whoever runs after the switch */
    PyObject *del_post_value;   /* ditto: the dead tasklet's result */
    Tasklet *starting;          /* handed to a worker greenlet (borrowed) */
    Tasklet *started;           /* list of started, unfinished tasklets (borrowed) */
    PyObject *main_greenlet;    /* strong */
    PyObject *spawner;          /* greenlet that creates workers (strong) */
    unsigned spawned;           /* workers started so far: picks the stack lane */
    PyObject *pool[SLP_POOL_MAX];
    int npool;

    int switch_trap;
    int schedlock;              /* inside a schedule/channel callback */
    Tasklet *hook_current;      /* borrowed: what stackless.current shows inside
                                   the schedule callback (prev, as Stackless) */
    uint32_t runflags;
    long tick_counter;
    long tick_watermark;
    long interval;
    int trace_installed;        /* 3.11: slp_tracefunc is installed (preempt.c) */
    int mark_frame;             /* 3.11: give the next traced frame f_trace_opcodes */
    Py_tracefunc old_tracefunc; /* 3.11: the user's, chained behind slp_tracefunc */
    PyObject *old_traceobj;     /* strong */
    int preempt_active;         /* a timed run() counts ticks in this thread */
    int retrace;                /* 3.12+: re-set trace/profile after the switch */
    uint32_t preempt_epoch;     /* 3.12+: bumped when our sys.monitoring events
                                   are switched on or off (preempt.c) */
    PyObject *mon_seen;         /* 3.12+: {address: code} of the code objects
                                   re-instrumented in this epoch */

    PyObject *traces;           /* {id(tasklet): (tracefunc, traceobj, proffunc, profobj)}
                                   saved tracing of tasklets that are not running */
    Py_ssize_t ntraced;

    PyThread_type_lock block_lock;
    int is_blocked;             /* waiting on block_lock with the GIL released */
    int is_idle;
    int pickleflags;
    int wakeup_fd;              /* set_wakeup_fd(): written to when another thread
                                   makes one of our tasklets runnable; -1 = none.
                                   Only the int is kept: the fd belongs to the caller */
};

/* ------------------------------------------------------------------ */
/* Module state                                                         */
/* ------------------------------------------------------------------ */

struct slp_state {
    PyTypeObject *tasklet_type;
    PyTypeObject *channel_type;
    PyTypeObject *bomb_type;
    PyTypeObject *atomic_type;
    PyTypeObject *guard_type;
    PyObject *TaskletExit;
    PyObject *worker_func;      /* builtin functions greenlets run */
    PyObject *spawner_func;
    PyObject *guard_key;        /* key in the thread state dict */
    PyObject *str_f_trace_opcodes;
    PyObject *mon_tick;         /* 3.12+: the sys.monitoring tick callback */
    PyObject *mon_get_tool;     /* 3.12+: sys.monitoring.get_tool, get_events */
    PyObject *mon_get_events;
    int mon_tool;               /* 3.12+: our sys.monitoring tool id, or -1 */
    int mon_users;              /* 3.12+: threads in a timed run() */
    int mon_on;                 /* 3.12+: our events are set */
    long mon_linger;            /* 3.12+: instructions left before they are unset */
    PyObject *schedule_hook;
    PyObject *channel_hook;
    PyObject *error_handler;
    PyObject *graveyard;        /* objects left by dead threads, released later */
    SlpThread *threads;         /* registry head (main thread first) */
    int pickleflags_default;
    int finalizing;             /* set at exit: never switch from then on */
    unsigned long main_thread_id;
    PyObject *module;           /* borrowed: the module owning this state */
};

/* ------------------------------------------------------------------ */
/* Inline helpers                                                       */
/* ------------------------------------------------------------------ */

#define TASKLET_SETVAL(t, v) do { PyObject *_o = (t)->tempval; \
        Py_INCREF(v); (t)->tempval = (v); Py_XDECREF(_o); } while (0)
/* take the tempval out (new reference for the caller), leaving None */
static inline PyObject *
tasklet_claimval(Tasklet *t)
{
    PyObject *v = t->tempval;
    Py_INCREF(Py_None);
    t->tempval = Py_None;
    if (v == NULL) {
        Py_INCREF(Py_None);
        v = Py_None;
    }
    return v;
}

/* The current tasklet as Python code sees it (getcurrent, is_current): the
 * head of the run queue, except inside the schedule callback, which runs on
 * prev's stack (or a dying tasklet's) and shows prev, as Stackless does. */
static inline Tasklet *
slp_visible_current(SlpThread *th)
{
    return SLP_UNLIKELY(th->hook_current != NULL) ? th->hook_current : th->current;
}

static inline int tasklet_started(Tasklet *t) { return (t->flags & TF_STARTED) != 0; }
static inline int tasklet_blocked_dir(Tasklet *t)
{
    return (t->flags & TF_BLOCKED_SEND) ? 1 : (t->flags & TF_BLOCKED_RECV) ? -1 : 0;
}
static inline int tasklet_alive(Tasklet *t)
{
    if (t->thread == NULL || !t->thread->alive)
        return 0;
    return t->greenlet != NULL || (!(t->flags & TF_LINKED) && t->u.c.args != NULL);
}

static inline int channel_preference(Channel *c)
{
    return (int)((c->flags & CF_PREF_MASK) >> CF_PREF_SHIFT) - 1;
}

/* run(timeout) counts ticks (preempt.c) with a chained C trace function up
 * to 3.11, and with a sys.monitoring tool of its own from 3.12 on: 3.12
 * (PEP 669) rebuilt sys.settrace on per-code-object instrumentation that a
 * tasklet suspended in another greenlet misses. */
#if PY_VERSION_HEX >= 0x030C0000
#  define SLP_MONITORING 1
#else
#  define SLP_MONITORING 0
#endif

/* counter + interval, saturated: run(timeout=sys.maxsize) must mean "never",
 * not a signed overflow that wraps to an immediate interrupt */
static inline long
slp_tick_deadline(long counter, long interval)
{
    return interval > LONG_MAX - counter ? LONG_MAX : counter + interval;
}

/* Before a tasklet starts on a fresh greenlet, make the running C frame
 * trace if a trace/profile function is installed: CPython 3.11 keeps the
 * "tracing on" flag per _PyCFrame, and a new greenlet does not always inherit
 * it.  (3.12 dropped that flag: tracing is instrumentation of the code.) */
static inline void
slp_sync_tracing(PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030C0000
    uint8_t want = (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL) ? 255 : 0;
    if (ts->cframe->use_tracing != want)
        ts->cframe->use_tracing = want;
#else
    (void)ts;
#endif
}

void slp_preempt_resumed_slow(SlpThread *th, Tasklet *t);

/* A switch has just come back to `t`, the running tasklet again. */
static inline void
slp_preempt_resumed(SlpThread *th, Tasklet *t)
{
#if SLP_MONITORING
    /* a suspended tasklet's frames may run code that is not instrumented
     * for the tick counter or for its trace function (preempt.c) */
    if (SLP_UNLIKELY(th->retrace | (t->preempt_epoch != th->preempt_epoch)))
        slp_preempt_resumed_slow(th, t);
#else
    (void)t;
    slp_sync_tracing(th->tstate);
    if (SLP_UNLIKELY(th->trace_installed))
        th->mark_frame = 1;
#endif
}

/* ------------------------------------------------------------------ */
/* Prototypes                                                           */
/* ------------------------------------------------------------------ */

/* module.c */
extern struct PyModuleDef slp_module_def;
slp_state *slp_get_state(PyObject *module);
slp_state *slp_state_from_type(PyTypeObject *tp);
int slp_is_tasklet(slp_state *st, PyObject *o);
int slp_is_bomb_slow(slp_state *st, PyObject *o);
/* The tempval checked at every switch and channel operation is almost always
 * None: answer that inline, without PyType_IsSubtype (bomb is subclassable). */
static inline int
slp_is_bomb(slp_state *st, PyObject *o)
{
    PyTypeObject *tp;
    if (o == NULL || o == Py_None)
        return 0;
    tp = Py_TYPE(o);
    if (tp == st->bomb_type)
        return 1;
    /* schedule()'s default value is the tasklet itself; and a static type
     * cannot derive from our heap type */
    if (tp == st->tasklet_type || !(tp->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return 0;
    return slp_is_bomb_slow(st, o);
}

/* scheduler.c */
SlpThread *slp_thread_get(slp_state *st);        /* create on demand; NULL + error */
/* Fast access to this thread's scheduler, inline (every channel operation and
 * switch asks for it).  Validated against the thread state, so a stale
 * pointer (thread state replaced) is never used.  NULL if none yet; no error. */
#if defined(__GNUC__) && defined(__linux__)
/* initial-exec: a plain %fs-relative load instead of a __tls_get_addr call at
 * every access (this is a dlopen'd module; the 16 bytes come from the static
 * TLS surplus glibc reserves for such modules) */
#  define SLP_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#  define SLP_TLS_MODEL
#endif
extern _Thread_local SlpThread *tls_thread SLP_TLS_MODEL;      /* scheduler.c */
extern _Thread_local PyThreadState *tls_tstate SLP_TLS_MODEL;

static inline SlpThread *
slp_thread_current(void)
{
    SlpThread *th = tls_thread;
    if (SLP_LIKELY(th != NULL && tls_tstate == PyThreadState_Get() && th->alive))
        return th;
    return NULL;
}
void slp_thread_incref(SlpThread *th);
void slp_thread_decref(SlpThread *th);
void slp_rq_insert(SlpThread *th, Tasklet *t);   /* steals a reference */
Tasklet *slp_rq_remove(SlpThread *th);            /* removes current; returns owned ref */
void slp_rq_remove_task(SlpThread *th, Tasklet *t);/* returns the ref to the caller */
void slp_rq_unremove(SlpThread *th, Tasklet *t);  /* back in front; steals */
int slp_schedule_task(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next,
                      int *did_switch);
PyObject *slp_schedule(SlpThread *th, PyObject *retval, int remove);
Tasklet *slp_tasklet_end(SlpThread *th, Tasklet *task, PyObject *result);
int slp_prepare_next(SlpThread *th, Tasklet *next);
void slp_notify_schedule(SlpThread *th, Tasklet *prev, Tasklet *next);
void slp_thread_unblock(SlpThread *th);
int slp_thread_set_wakeup_fd(SlpThread *th, int fd);
PyObject *slp_run_watchdog(SlpThread *th, long timeout, uint32_t flags);
Tasklet *slp_get_watchdog(SlpThread *th, int interrupt);
PyObject *slp_get_thread_info(slp_state *st, PyObject *args);
PyObject *slp_trace_get(SlpThread *th, Tasklet *t, int profile);
/* preempt.c: the tick counter of run(timeout) */
int slp_preempt_init(PyObject *module, slp_state *st);
int slp_preempt_start(SlpThread *th);     /* -1 with an exception */
void slp_preempt_stop(SlpThread *th);
void slp_preempt_thread_gone(SlpThread *th);
#if !SLP_MONITORING
int slp_tracefunc(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg);
#endif
int slp_trace_set(SlpThread *cur, Tasklet *t, int profile, PyObject *value);
void slp_trace_forget(Tasklet *t);
void slp_retrace(SlpThread *th);         /* preempt.c */
PyObject *slp_getthreads(slp_state *st);
void slp_collect_graveyard(slp_state *st);
int slp_init_scheduler_types(PyObject *module, slp_state *st);
void slp_state_finalize(slp_state *st);

/* switch.c */
int slp_greenlet_import(void);
PyObject *slp_greenlet_getcurrent(void);
int slp_transfer(SlpThread *th, Tasklet *prev, Tasklet *next);
/* greenlet's PyGreenlet_Switch (set by slp_greenlet_import), for the
 * scheduler's flattened fast switch (scheduler.c, switch_fast) */
typedef PyObject *(*slp_greenlet_switch_fn)(PyObject *g, PyObject *args, PyObject *kwargs);
extern slp_greenlet_switch_fn slp_greenlet_switch;
PyObject *slp_worker_run(PyObject *module, PyObject *args);
PyObject *slp_spawner_run(PyObject *module, PyObject *args);
PyObject *slp_greenlet_frame(PyObject *greenlet);
int slp_greenlet_set_context(PyObject *greenlet, PyObject *ctx);
PyObject *slp_greenlet_get_context(PyObject *greenlet);
int slp_greenlet_is_dead_thread(PyObject *greenlet);
void slp_pool_clear(SlpThread *th, PyObject *into_list);
void slp_pool_end(SlpThread *th);
void slp_started_link(SlpThread *th, Tasklet *t);
void slp_started_unlink(SlpThread *th, Tasklet *t);
void slp_kill_started(SlpThread *th);

/* tasklet.c */
extern PyType_Spec slp_tasklet_spec;
Tasklet *slp_tasklet_new_main(slp_state *st, SlpThread *th, PyObject *greenlet);
PyObject *slp_tasklet_throw_bomb(SlpThread *th, Tasklet *self, int pending, PyObject *bomb);
int slp_tasklet_insert(SlpThread *th, Tasklet *t);

/* channel.c */
extern PyType_Spec slp_channel_spec;
void slp_channel_insert(Channel *ch, Tasklet *t, int dir);
Tasklet *slp_channel_remove(Channel *ch, Tasklet *t, int *dir_out);
Channel *slp_channel_remove_slow(Tasklet *t, int *dir_out);

/* bomb.c */
extern PyType_Spec slp_bomb_spec;
PyObject *slp_make_bomb(slp_state *st, PyObject *klass, PyObject *args, const char *msg);
PyObject *slp_exc_to_bomb(slp_state *st, PyObject *exc, PyObject *val, PyObject *tb);
PyObject *slp_curexc_to_bomb(slp_state *st);
PyObject *slp_bomb_explode(PyObject *bomb);   /* consumes the bomb, returns NULL */

/* arena.c (branch `bench`): installs the allocator that recycles the 16 KiB
 * frame-stack chunks of greenlets, once per process, and adds _arena_stats /
 * _arena_trim to the module; called from module exec. */
int slp_arena_install(PyObject *module);

#define RUNTIME_ERROR(msg, ret) do { PyErr_SetString(PyExc_RuntimeError, msg); return ret; } while (0)

#ifdef SLP_VISIBILITY_PUSHED
#  pragma GCC visibility pop
#endif

#endif /* STACKLESS_IMPL_H */
