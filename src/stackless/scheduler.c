/*
 * scheduler.c -- the per-thread scheduler.
 *
 * Owns: the per-thread state (SlpThread) and its registry, thread-death
 * detection, the run queue, slp_schedule_task() (the one place that decides
 * what runs next and switches), blocking with its deadlock rules, the end of
 * a tasklet, the schedule callback, the watchdog stack behind run() and the
 * run(timeout) pre-emption.
 *
 * The run queue is a circular doubly linked list of tasklets threaded through
 * Tasklet.next/prev; SlpThread.current is its head and is the running tasklet
 * (except while a watchdog is floating, see run()).  Inserting appends at the
 * tail, i.e. just before current.  The queue owns one reference per tasklet.
 *
 * Thread end: an instance of the private `_thread_guard` type is stored in the
 * thread state dict.  CPython clears that dict when the thread state is
 * cleared (thread end, or interpreter finalization); the guard's dealloc
 * marks the SlpThread dead.  From then on its tasklets report thread_id -1 and
 * alive False, and nothing ever switches into that thread again: the
 * references the dead thread held are parked in a "graveyard" list and
 * released later from a live thread, when greenlet knows the thread is gone.
 *
 * Timeouts: run(timeout) counts ticks (one per bytecode instruction) for the
 * duration of that run() only, with the tick counter of preempt.c; `timeout`
 * is a number of ticks.  Without a timeout nothing is installed and
 * scheduling costs nothing extra.
 */
#include "stackless_impl.h"
#ifndef MS_WINDOWS
#  include <unistd.h>          /* write(): the wake-up fd */
#endif

/* ------------------------------------------------------------------ */
/* Thread registry                                                     */
/* ------------------------------------------------------------------ */

/* This thread's scheduler (stackless_impl.h: slp_thread_current) */
_Thread_local SlpThread *tls_thread SLP_TLS_MODEL = NULL;
_Thread_local PyThreadState *tls_tstate SLP_TLS_MODEL = NULL;

typedef struct {
    PyObject_HEAD
    SlpThread *th;
} ThreadGuard;

void
slp_thread_incref(SlpThread *th)
{
    th->refcnt++;
}

void
slp_thread_decref(SlpThread *th)
{
    if (--th->refcnt == 0) {
        PyObject *module = th->module;
        if (th->block_lock != NULL) {
            PyThread_release_lock(th->block_lock);  /* it is held while not blocked */
            PyThread_free_lock(th->block_lock);
        }
        PyMem_RawFree(th);
        Py_XDECREF(module);
    }
}

static void
registry_unlink(slp_state *st, SlpThread *th)
{
    if (th->reg_prev)
        th->reg_prev->reg_next = th->reg_next;
    else if (st->threads == th)
        st->threads = th->reg_next;
    if (th->reg_next)
        th->reg_next->reg_prev = th->reg_prev;
    th->reg_next = th->reg_prev = NULL;
}

static void
grave_push(slp_state *st, PyObject *o)
{
    /* steals o */
    if (o == NULL)
        return;
    if (st->graveyard == NULL)
        st->graveyard = PyList_New(0);
    if (st->graveyard == NULL || PyList_Append(st->graveyard, o) < 0) {
        /* cannot park it: leak it rather than release it in a dying thread */
        PyErr_Clear();
        return;
    }
    Py_DECREF(o);
}

/* The thread of `th` has ended (its thread state is being cleared). */
static void
thread_died(SlpThread *th)
{
    slp_state *st = th->st;
    PyObject *exc_t, *exc_v, *exc_tb;

    if (!th->alive)
        return;
    PyErr_Fetch(&exc_t, &exc_v, &exc_tb);
    if (tls_thread == th && tls_tstate == PyThreadState_Get() && th->current == th->main &&
        !st->finalizing) {
        /* Still in the ending thread, which runs no tasklet: end the idle
         * workers and the spawner here, while greenlet can still switch in
         * this thread (they run only our C loops, no Python code).  Parked
         * greenlets of a thread that has gone can never be ended and would
         * stay allocated for good. */
        slp_kill_started(th);
        slp_pool_end(th);
    }
    /* tasklets that could not be killed stay as they are (never run again) */
    while (th->started != NULL)
        slp_started_unlink(th, th->started);
    th->alive = 0;
    th->tstate = NULL;
    if (tls_thread == th) {
        tls_thread = NULL;
        tls_tstate = NULL;
    }
    registry_unlink(st, th);
    /* empty the run queue */
    while (th->current != NULL) {
        Tasklet *t = slp_rq_remove(th);
        grave_push(st, (PyObject *)t);
    }
    grave_push(st, (PyObject *)th->main);
    th->main = NULL;
    grave_push(st, th->watchdogs);
    th->watchdogs = NULL;
    grave_push(st, th->interrupted);
    th->interrupted = NULL;
    grave_push(st, th->del_post_switch);
    th->del_post_switch = NULL;
    grave_push(st, th->del_post_value);
    th->del_post_value = NULL;
    while (th->npool > 0) {
        th->npool--;
        grave_push(st, th->pool[th->npool]);
        th->pool[th->npool] = NULL;
    }
    grave_push(st, th->spawner);
    th->spawner = NULL;
    grave_push(st, th->main_greenlet);
    th->main_greenlet = NULL;
    slp_preempt_thread_gone(th);
    grave_push(st, th->old_traceobj);
    th->old_traceobj = NULL;
    grave_push(st, th->traces);
    th->traces = NULL;
    th->ntraced = 0;
    PyErr_Restore(exc_t, exc_v, exc_tb);
    slp_thread_decref(th);   /* the registry's reference */
}

/* The list of started, unfinished tasklets of a thread (circular, borrowed
 * pointers; a tasklet leaves it when it ends or is deallocated). */
void
slp_started_link(SlpThread *th, Tasklet *t)
{
    Tasklet *h = th->started;
    if (h == NULL) {
        t->u.s.next = t->u.s.prev = t;
        th->started = t;
    }
    else {
        t->u.s.next = h;
        t->u.s.prev = h->u.s.prev;
        h->u.s.prev->u.s.next = t;
        h->u.s.prev = t;
    }
    t->flags |= TF_LINKED;
}

void
slp_started_unlink(SlpThread *th, Tasklet *t)
{
    if (!(t->flags & TF_LINKED))
        return;
    if (t->u.s.next == t)
        th->started = NULL;
    else {
        t->u.s.prev->u.s.next = t->u.s.next;
        t->u.s.next->u.s.prev = t->u.s.prev;
        if (th->started == t)
            th->started = t->u.s.next;
    }
    t->u.s.next = t->u.s.prev = NULL;   /* == u.c.func/args NULL */
    t->flags &= ~TF_LINKED;
}

/*
 * The thread is ending (or the interpreter is exiting, for the main thread)
 * and runs only its main tasklet: as Stackless does for tasklets with C state,
 * kill every started tasklet, here, in its own thread, so that its except and
 * finally clauses run.  Tasklets that never started are dropped from the run
 * queue without running.
 */
void
slp_kill_started(SlpThread *th)
{
    PyObject *lis, *et, *ev, *etb;
    Tasklet *t;
    Py_ssize_t i;
    int round;

    if (th->started == NULL || th->current != th->main)
        return;
    PyErr_Fetch(&et, &ev, &etb);
    lis = PyList_New(0);
    if (lis == NULL)
        goto done;
    t = th->started;
    do {
        if (PyList_Append(lis, (PyObject *)t) < 0)
            goto done;
        t = t->u.s.next;
    } while (t != th->started);
    /* nothing else may run in between: empty the run queue but for main */
    while (th->main->next != NULL && th->main->next != th->main) {
        t = th->main->next;
        slp_rq_remove_task(th, t);
        Py_DECREF(t);
    }
    for (round = 0; round < 3; round++) {
        for (i = 0; i < PyList_GET_SIZE(lis); i++) {
            PyObject *bomb, *r;
            t = (Tasklet *)PyList_GET_ITEM(lis, i);
            if (!(t->flags & TF_LINKED) || t->greenlet == NULL || th->current != th->main)
                continue;
            bomb = slp_exc_to_bomb(th->st, th->st->TaskletExit, NULL, NULL);
            if (bomb == NULL) {
                PyErr_Clear();
                continue;
            }
            r = slp_tasklet_throw_bomb(th, t, 0, bomb);
            if (r == NULL)
                PyErr_WriteUnraisable((PyObject *)t);
            else
                Py_DECREF(r);
        }
    }
done:
    Py_XDECREF(lis);
    PyErr_Restore(et, ev, etb);
}

/* Release what dead threads left behind.  Called from a live thread. */
void
slp_collect_graveyard(slp_state *st)
{
    PyObject *g = st->graveyard;
    if (g == NULL || st->finalizing)
        return;
    st->graveyard = NULL;
    Py_DECREF(g);
}

static void
guard_dealloc(ThreadGuard *g)
{
    PyTypeObject *tp = Py_TYPE(g);
    SlpThread *th = g->th;
    g->th = NULL;
    if (th != NULL) {
        thread_died(th);
        slp_thread_decref(th);   /* the guard's reference */
    }
    tp->tp_free((PyObject *)g);
    Py_DECREF(tp);
}

static PyType_Slot guard_slots[] = {
    {Py_tp_dealloc, guard_dealloc},
    {0, NULL}
};

static PyType_Spec guard_spec = {
    .name = "_stackless._thread_guard",
    .basicsize = sizeof(ThreadGuard),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = guard_slots,
};

int
slp_init_scheduler_types(PyObject *module, slp_state *st)
{
    st->guard_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &guard_spec, NULL);
    return st->guard_type ? 0 : -1;
}

static SlpThread *
thread_create(slp_state *st)
{
    PyThreadState *ts = PyThreadState_Get();
    SlpThread *th;
    ThreadGuard *guard;
    PyObject *dict;
    Tasklet *main;

    if (slp_greenlet_import() < 0)
        return NULL;
    dict = PyThreadState_GetDict();
    if (dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "stackless: no thread state dict");
        return NULL;
    }
    th = PyMem_RawCalloc(1, sizeof(SlpThread));
    if (th == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    th->refcnt = 1;                 /* the registry */
    th->st = st;
    th->module = st->module;
    Py_INCREF(th->module);
    th->tstate = ts;
    th->thread_id = PyThread_get_thread_ident();
    th->alive = 1;
    th->pickleflags = st->pickleflags_default;
    th->wakeup_fd = -1;
    th->main_greenlet = slp_greenlet_getcurrent();
    if (th->main_greenlet == NULL) {
        slp_thread_decref(th);
        return NULL;
    }
    guard = PyObject_New(ThreadGuard, st->guard_type);
    if (guard == NULL) {
        Py_CLEAR(th->main_greenlet);
        slp_thread_decref(th);
        return NULL;
    }
    guard->th = th;
    th->refcnt++;                   /* the guard */
    /* An entry still registered for this thread id or thread state belongs
     * to a thread that has ended although its guard was not released yet
     * (its thread-state dict outlived PyThreadState_Clear): two live threads
     * never share either.  Left in place it would shadow this thread in
     * bind_thread() and get_thread_info(), and tasklets sent to it would
     * never run.  Bury it now, from here (thread_died handles a foreign
     * caller). */
    {
        SlpThread *p = st->threads, *next;
        for (; p != NULL; p = next) {
            next = p->reg_next;
            if (p->alive && (p->thread_id == th->thread_id || p->tstate == ts))
                thread_died(p);
        }
    }
    /* register (append: the first thread to use stackless comes first) */
    if (st->threads == NULL)
        st->threads = th;
    else {
        SlpThread *p = st->threads;
        while (p->reg_next)
            p = p->reg_next;
        p->reg_next = th;
        th->reg_prev = p;
    }
    tls_thread = th;
    tls_tstate = ts;
    if (PyDict_SetItem(dict, st->guard_key, (PyObject *)guard) < 0) {
        Py_DECREF(guard);          /* marks the thread dead again */
        return NULL;
    }
    Py_DECREF(guard);
    main = slp_tasklet_new_main(st, th, th->main_greenlet);
    if (main == NULL) {
        PyDict_DelItem(dict, st->guard_key);
        return NULL;
    }
    th->main = main;                /* strong */
    Py_INCREF(main);
    slp_rq_insert(th, main);        /* the queue's reference */
    slp_notify_schedule(th, NULL, main);
    slp_collect_graveyard(st);
    return th;
}

SlpThread *
slp_thread_get(slp_state *st)
{
    SlpThread *th = slp_thread_current();
    if (SLP_LIKELY(th != NULL))
        return th;
    return thread_create(st);
}

/* ------------------------------------------------------------------ */
/* Run queue                                                            */
/* ------------------------------------------------------------------ */

void
slp_rq_insert(SlpThread *th, Tasklet *t)
{
    Tasklet *cur = th->current;
    assert(t->next == NULL && t->prev == NULL);
    if (cur == NULL) {
        t->next = t->prev = t;
        th->current = t;
    }
    else {
        t->next = cur;
        t->prev = cur->prev;
        cur->prev->next = t;
        cur->prev = t;
    }
    th->runcount++;
}

Tasklet *
slp_rq_remove(SlpThread *th)
{
    Tasklet *t = th->current;
    assert(t != NULL);
    if (t->next == t)
        th->current = NULL;
    else {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        th->current = t->next;
    }
    t->next = t->prev = NULL;
    th->runcount--;
    return t;
}

void
slp_rq_remove_task(SlpThread *th, Tasklet *t)
{
    if (t == th->current) {
        slp_rq_remove(th);
        return;
    }
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
    th->runcount--;
}

void
slp_rq_unremove(SlpThread *th, Tasklet *t)
{
    slp_rq_insert(th, t);
    th->current = t;
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                            */
/* ------------------------------------------------------------------ */

void
slp_notify_schedule(SlpThread *th, Tasklet *prev, Tasklet *next)
{
    PyObject *hook = th->st->schedule_hook, *r;
    PyObject *et, *ev, *etb;
    Tasklet *old_current;
    PyObject *old_del, *old_val;

    if (SLP_LIKELY(hook == NULL) || th->schedlock)
        return;
    PyErr_Fetch(&et, &ev, &etb);
    Py_INCREF(hook);
    /* keep the pending releases away from code the hook might run */
    old_del = th->del_post_switch;
    old_val = th->del_post_value;
    th->del_post_switch = th->del_post_value = NULL;
    th->schedlock = 1;
    old_current = th->current;
    /* Stackless shows prev as current during the callback; only when prev is
     * still in the run queue: a dead, blocked or removed prev as the queue
     * head would make any insert (another thread may run while the hook
     * releases the GIL) link into a detached tasklet -- or into the list of
     * the channel prev is blocked on. */
    if (prev != NULL && prev->next != NULL && !(prev->flags & TF_BLOCKED))
        th->current = prev;
    /* ... but Python code always sees prev as current: the callback runs on
     * prev's stack (Stackless' test_sched_cb.test2currentWithPrevAndNext) */
    th->hook_current = prev;
    r = PyObject_CallFunctionObjArgs(hook, prev ? (PyObject *)prev : Py_None,
                                     next ? (PyObject *)next : Py_None, NULL);
    th->hook_current = NULL;
    th->current = old_current;
    th->schedlock = 0;
    if (r == NULL) {
        /* reported through sys.unraisablehook, not propagated (as Stackless) */
        PyObject *msg = PyUnicode_FromString("Error in scheduling callback");
        PyErr_WriteUnraisable(msg);
        Py_XDECREF(msg);
        PyErr_Clear();
    }
    else
        Py_DECREF(r);
    Py_DECREF(hook);
    /* the hook could not switch (schedlock), so these are still ours */
    Py_XDECREF(th->del_post_switch);
    Py_XDECREF(th->del_post_value);
    th->del_post_switch = old_del;
    th->del_post_value = old_val;
    PyErr_Restore(et, ev, etb);
}

/* ------------------------------------------------------------------ */
/* Deadlock detection and thread blocking                               */
/* ------------------------------------------------------------------ */

static SlpThread *
find_thread_by_tstate(slp_state *st, PyThreadState *ts)
{
    SlpThread *p;
    for (p = st->threads; p != NULL; p = p->reg_next)
        if (p->tstate == ts)
            return p;
    return NULL;
}

/* Can no other thread ever wake us?  As Stackless: every other Python thread
 * that is not blocked in the scheduler might. */
static int
check_for_deadlock(SlpThread *th)
{
    PyThreadState *me = PyThreadState_Get();
    PyThreadState *ts;
    for (ts = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(me));
         ts != NULL; ts = PyThreadState_Next(ts)) {
        SlpThread *o;
        if (ts == me)
            continue;
        o = find_thread_by_tstate(th->st, ts);
        if (o == NULL || !o->is_blocked)
            return 0;
    }
    return 1;
}

/* Sleep, GIL released, until another thread wakes us (slp_thread_unblock). */
static int
thread_block(SlpThread *th)
{
    PyLockStatus r;
    if (th->block_lock == NULL) {
        th->block_lock = PyThread_allocate_lock();
        if (th->block_lock == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyThread_acquire_lock(th->block_lock, WAIT_LOCK);
    }
    for (;;) {
        th->is_blocked = 1;
        th->is_idle = 1;
        Py_BEGIN_ALLOW_THREADS
        r = PyThread_acquire_lock_timed(th->block_lock, -1, 1);
        Py_END_ALLOW_THREADS
        th->is_idle = 0;
        if (r == PY_LOCK_ACQUIRED)
            return 0;
        /* interrupted by a signal */
        th->is_blocked = 0;
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (th->current != NULL)
            return 0;
    }
}

/* Another thread has just put a tasklet into th's run queue: wake th if it
 * sleeps in thread_block(), and write to its wake-up fd (set_wakeup_fd) so a
 * thread parked in the kernel (epoll_wait in stackless.loop) notices it.
 * Called with the GIL held, after the insert.  The write is the 8 bytes of a
 * native uint64 1 (an eventfd increment; also fine for a pipe); the fd is
 * non-blocking (checked by set_wakeup_fd) and every error (EAGAIN: already
 * signalled; EBADF: closed behind our back) is ignored. */
void
slp_thread_unblock(SlpThread *th)
{
    if (th == NULL)
        return;
    if (th->is_blocked) {
        th->is_blocked = 0;
        PyThread_release_lock(th->block_lock);
    }
    if (th->wakeup_fd >= 0 && th->alive && th != tls_thread) {
#ifndef MS_WINDOWS
        uint64_t one = 1;
        ssize_t r = write(th->wakeup_fd, &one, sizeof one);
        (void)r;
#endif
    }
}

/* set_wakeup_fd() for the calling thread; returns the previous fd. */
int
slp_thread_set_wakeup_fd(SlpThread *th, int fd)
{
    int old = th->wakeup_fd;
    th->wakeup_fd = fd;
    return old;
}

static PyObject *
make_deadlock_bomb(slp_state *st, const char *msg)
{
    PyErr_SetString(PyExc_RuntimeError, msg);
    return slp_curexc_to_bomb(st);
}

/* ------------------------------------------------------------------ */
/* Watchdogs                                                            */
/* ------------------------------------------------------------------ */

/* The tasklet to wake when the queue runs empty: the innermost watchdog or
 * main; with `interrupt`, the watchdog running the timed run().  Borrowed. */
Tasklet *
slp_get_watchdog(SlpThread *th, int interrupt)
{
    Py_ssize_t n;
    if (th->watchdogs == NULL || (n = PyList_GET_SIZE(th->watchdogs)) <= 1)
        return th->main;
    if (interrupt) {
        PyObject *t = PyList_GET_ITEM(th->watchdogs, 0);
        return t == Py_None ? th->main : (Tasklet *)t;
    }
    return (Tasklet *)PyList_GET_ITEM(th->watchdogs, n - 1);
}

/* ------------------------------------------------------------------ */
/* Switching                                                            */
/* ------------------------------------------------------------------ */

static int schedule_task_prepared(SlpThread *th, PyObject **result, Tasklet *prev,
                                  Tasklet *next, int *did_switch);
SLP_COLD static void switch_tracing(SlpThread *th, Tasklet *prev, Tasklet *next, int prev_dying);

/* Tracing is per tasklet (as in Stackless): only worth a look when some is active. */
#define TRACING_ACTIVE(th) \
    ((th)->ntraced != 0 || (th)->tstate->c_tracefunc != NULL || (th)->tstate->c_profilefunc != NULL)

/* Every switch, before leaving: the next tasklet gets a fresh time slice. */
static inline void
switch_arm_slice(SlpThread *th)
{
    if (!(th->runflags & RF_TOTALTIMEOUT))
        th->tick_watermark = slp_tick_deadline(th->tick_counter, th->interval);
}

/* Every switch, when the tasklet that left is running again (both switch
 * paths below resume here: whatever a resumed tasklet must do goes in here). */
static inline void
switch_resumed(SlpThread *th, Tasklet *t)
{
    slp_preempt_resumed(th, t);     /* instrumentation of t's frames (preempt.c) */
    if (th->del_post_switch != NULL || th->del_post_value != NULL) {
        Py_CLEAR(th->del_post_switch);
        Py_CLEAR(th->del_post_value);
    }
}

/*
 * The fast switch: schedule() and a blocking channel operation, in the common
 * case, flattened into one small C frame.  Every byte of C stack between a
 * tasklet's Python code and greenlet's switch is copied out and back (and
 * malloc'd) at every switch, and so is every call level: the general path
 * (slp_schedule_task -> schedule_task_prepared -> slp_transfer) costs ~170
 * bytes of stack and ~150 instructions more per switch.
 *
 * Allowed when nothing watches or alters the switch: no schedule callback,
 * no tracing, no timed run (interval 0: no slice to arm, no pre-emption to
 * set up), no soft interrupt pending, no switch trap, not inside a callback;
 * and `next` is a started tasklet of this thread waiting in its run queue.
 * Anything else takes the general path, which does the same and more.
 */
static inline int
switch_fast_ok(SlpThread *th, Tasklet *prev, Tasklet *next)
{
    return next != NULL && next != prev && next->greenlet != NULL &&
           next->thread == th && next->next != NULL && !(next->flags & TF_BLOCKED) &&
           th->interval == 0 && !th->trace_installed && !th->schedlock && !th->switch_trap &&
           !(th->runflags & RF_SOFT) && th->st->schedule_hook == NULL && !TRACING_ACTIVE(th);
}

/* Leave prev (th->current, the running tasklet) for next (switch_fast_ok
 * said yes).  0 and *result = prev's tempval once prev runs again, or -1
 * with nothing changed.  Inlined into the two callers below, which are
 * reached by tail calls: theirs is the only frame of ours on the path. */
static inline __attribute__((always_inline)) int
switch_fast_inline(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next)
{
    PyObject *r;
    th->runflags &= ~RF_NO_SOFT_IRQ;
    switch_arm_slice(th);
    th->current = next;
    r = slp_greenlet_switch(next->greenlet, NULL, NULL);
    if (SLP_UNLIKELY(r == NULL)) {
        th->current = prev;
        return -1;
    }
    Py_DECREF(r);
    /* resumed: th->current is prev again (no local kept it alive) */
    prev = th->current;
    switch_resumed(th, prev);
    r = tasklet_claimval(prev);
    if (SLP_UNLIKELY(slp_is_bomb(th->st, r)))
        r = slp_bomb_explode(r);
    *result = r;
    return 0;
}

static __attribute__((noinline)) int
switch_fast(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next)
{
    return switch_fast_inline(th, result, prev, next);
}

/* schedule() of slp_schedule, fast case: prev's tempval carries retval */
static __attribute__((noinline)) PyObject *
schedule_fast(SlpThread *th, Tasklet *prev, PyObject *retval)
{
    PyObject *tmpval = prev->tempval, *ret = NULL;
    Py_INCREF(retval);
    prev->tempval = retval;
    if (SLP_UNLIKELY(switch_fast_inline(th, &ret, prev, prev->next) < 0)) {
        /* not switched: prev is still th->current */
        Py_XSETREF(th->current->tempval, tmpval);
        return NULL;
    }
    Py_XDECREF(tmpval);
    return ret;
}

SLP_COLD static int
schedule_task_block(SlpThread *th, PyObject **result, Tasklet *prev, int *did_switch)
{
    Tasklet *wakeup = slp_get_watchdog(th, 0), *next;
    PyObject *tmpval = NULL, *bomb;
    int revive_main = 0, fail;

    if (!(th->runflags & RF_THREADBLOCK) && wakeup->next == NULL)
        revive_main = 1;   /* a floating watchdog: run() returns */
    if (revive_main || check_for_deadlock(th))
        goto cantblock;
    for (;;) {
        if (thread_block(th) < 0)
            return -1;
        next = th->current;
        if (next != NULL) {
            Py_INCREF(next);
            break;
        }
        if (check_for_deadlock(th))
            goto cantblock;
    }
    fail = slp_schedule_task(th, result, prev, next, did_switch);
    Py_DECREF(next);
    return fail;

cantblock:
    if (revive_main || (th->thread_id == th->st->main_thread_id && wakeup->next == NULL)) {
        /* wake the watchdog; pass a value only if it is an exception */
        if (slp_is_bomb(th->st, prev->tempval)) {
            tmpval = wakeup->tempval;
            Py_INCREF(prev->tempval);
            wakeup->tempval = prev->tempval;
        }
        fail = slp_schedule_task(th, result, prev, wakeup, did_switch);
        if (tmpval != NULL) {
            if (fail)
                Py_XSETREF(wakeup->tempval, tmpval);
            else
                Py_DECREF(tmpval);
        }
        return fail;
    }
    bomb = make_deadlock_bomb(th->st, "Deadlock: the last runnable tasklet cannot be blocked.");
    if (bomb == NULL)
        return -1;
    /* Stackless also claims the watchdog's tempval here, which loses a value
     * a blocked main tasklet is sending; that bug is not copied. */
    Py_XSETREF(prev->tempval, bomb);
    return slp_schedule_task(th, result, prev, prev, did_switch);
}

SLP_COLD static int
schedule_task_interthread(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next,
                          int *did_switch)
{
    SlpThread *nth = next->thread;
    int fail;
    if (nth == NULL || !nth->alive) {
        PyErr_SetString(PyExc_RuntimeError, "tasklet has no thread");
        return -1;
    }
    fail = slp_schedule_task(th, result, prev, prev, did_switch);
    if (fail)
        return fail;
    if (next->flags & TF_BLOCKED) {
        slp_channel_remove_slow(next, NULL);   /* the channel's ref moves to the queue */
        slp_rq_insert(nth, next);
    }
    else if (next->next == NULL) {
        Py_INCREF(next);
        slp_rq_insert(nth, next);
    }
    slp_thread_unblock(nth);
    return 0;
}

/* Soft interrupt: a timed soft run() whose time is up returns at the next
 * switch; redirect it to the watchdog. */
SLP_COLD static void
schedule_soft_irq(SlpThread *th, Tasklet *prev, Tasklet **next, int not_now)
{
    Tasklet *watchdog, *tmp;
    if (!(prev->flags & TF_PENDING_IRQ) || !(th->runflags & RF_SOFT))
        return;
    watchdog = slp_get_watchdog(th, 1);
    prev->flags &= ~TF_PENDING_IRQ;
    if (watchdog->next != NULL)
        return;
    if (prev == watchdog || *next == watchdog)
        return;
    if (not_now) {
        (*next)->flags |= TF_PENDING_IRQ;
        return;
    }
    assert(th->interrupted == NULL);
    th->interrupted = (PyObject *)*next;
    Py_INCREF(th->interrupted);
    /* put the watchdog in front of the old next */
    tmp = th->current;
    th->current = *next;
    Py_INCREF(watchdog);
    slp_rq_insert(th, watchdog);
    th->current = tmp;
    *next = watchdog;
}

static int schedule_task_general(SlpThread *th, PyObject **result, Tasklet *prev,
                                 Tasklet *next, int *did_switch);

int
slp_schedule_task(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next,
                  int *did_switch)
{
    /* both are tail calls: this function leaves no frame on the stack */
    if (SLP_LIKELY(did_switch == NULL && switch_fast_ok(th, prev, next)))
        return switch_fast(th, result, prev, next);
    if (next == prev && prev->next != NULL && !(prev->flags & TF_BLOCKED) &&
        !(th->runflags & RF_SOFT)) {
        /* no switch (a channel operation that lets the current tasklet go
         * on): what schedule_task_prepared does for prev == next */
        PyObject *r;
        if (did_switch)
            *did_switch = 0;
        th->runflags &= ~RF_NO_SOFT_IRQ;
        r = tasklet_claimval(prev);
        if (SLP_UNLIKELY(slp_is_bomb(th->st, r)))
            r = slp_bomb_explode(r);
        *result = r;
        return 0;
    }
    return schedule_task_general(th, result, prev, next, did_switch);
}

SLP_COLD static int
schedule_task_general(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next,
                      int *did_switch)
{
    Channel *u_chan = NULL;
    int u_dir = 0, inserted = 0, fail;

    *result = NULL;
    if (did_switch)
        *did_switch = 0;
    /* inside a schedule/channel callback the scheduler is mid-switch (current
     * may be a dead or removed tasklet): any switch from there corrupts the
     * run queue.  Stackless refuses it too. */
    if (SLP_UNLIKELY(th->schedlock) && next != prev) {
        PyErr_SetString(PyExc_RuntimeError, "Recursive scheduler call due to callbacks!");
        return -1;
    }
    if (next == NULL)
        return schedule_task_block(th, result, prev, did_switch);
    if (next->thread != th && next != prev)
        return schedule_task_interthread(th, result, prev, next, did_switch);
    if (th->switch_trap && prev != next) {
        PyErr_SetString(PyExc_RuntimeError, "switch_trap");
        return -1;
    }
    if (next->flags & TF_BLOCKED) {
        u_chan = slp_channel_remove_slow(next, &u_dir);
        slp_rq_insert(th, next);          /* takes over the channel's reference */
        inserted = 1;
    }
    else if (next->next == NULL) {
        Py_INCREF(next);
        slp_rq_insert(th, next);
        inserted = 1;
    }
    fail = schedule_task_prepared(th, result, prev, next, did_switch);
    if (fail && inserted) {
        if (next->next != NULL)
            slp_rq_remove_task(th, next);
        if (u_chan != NULL)
            slp_channel_insert(u_chan, next, u_dir);
        else
            Py_DECREF(next);
    }
    return fail;
}

static int
schedule_task_prepared(SlpThread *th, PyObject **result, Tasklet *prev, Tasklet *next,
                       int *did_switch)
{
    PyObject *retval;
    int no_soft_irq = (th->runflags & RF_NO_SOFT_IRQ) != 0;
    th->runflags &= ~RF_NO_SOFT_IRQ;

    if (SLP_UNLIKELY(th->runflags & RF_SOFT))
        schedule_soft_irq(th, prev, &next, no_soft_irq);

    if (prev == next) {
        retval = tasklet_claimval(prev);
        if (slp_is_bomb(th->st, retval))
            retval = slp_bomb_explode(retval);
        *result = retval;
        return 0;
    }
    slp_notify_schedule(th, prev, next);
    switch_arm_slice(th);

    if (SLP_UNLIKELY(TRACING_ACTIVE(th)))
        switch_tracing(th, prev, next, 0);
    th->current = next;
    if (slp_transfer(th, prev, next) < 0) {
        th->current = prev;
        if (SLP_UNLIKELY(TRACING_ACTIVE(th)))
            switch_tracing(th, next, prev, 0);
        return -1;
    }
    /* resumed: prev is running again */
    switch_resumed(th, prev);
    if (did_switch)
        *did_switch = 1;
    retval = tasklet_claimval(prev);
    if (slp_is_bomb(th->st, retval))
        retval = slp_bomb_explode(retval);
    *result = retval;
    return 0;
}

/*
 * schedule(retval) / schedule_remove(retval).
 *
 * Hazard: no C local may hold a reference to `prev` across the switch: a
 * suspended C stack is invisible to the garbage collector, so such a
 * reference would make a paused tasklet uncollectable.  The queue's reference
 * of a removed tasklet is parked in th->del_post_switch instead, and released
 * by whichever tasklet runs next.
 */
SLP_COLD static PyObject *schedule_general(SlpThread *th, PyObject *retval, int remove);

PyObject *
slp_schedule(SlpThread *th, PyObject *retval, int remove)
{
    Tasklet *prev = th->current;
    /* both are tail calls: this function leaves no frame on the stack */
    if (SLP_LIKELY(!remove && switch_fast_ok(th, prev, prev->next)))
        return schedule_fast(th, prev, retval);
    return schedule_general(th, retval, remove);
}

static PyObject *
schedule_general(SlpThread *th, PyObject *retval, int remove)
{
    Tasklet *prev = th->current, *next;
    PyObject *tmpval, *ret = NULL;
    int fail, switched = 0;

    next = prev->next;
    tmpval = prev->tempval;
    Py_INCREF(retval);
    prev->tempval = retval;
    if (remove) {
        slp_rq_remove(th);
        Py_CLEAR(th->del_post_switch);
        th->del_post_switch = (PyObject *)prev;   /* the queue's reference */
        if (next == prev)
            next = NULL;
    }
    fail = slp_schedule_task(th, &ret, prev, next, &switched);
    if (fail) {
        Py_XSETREF(prev->tempval, tmpval);
        if (remove && th->del_post_switch == (PyObject *)prev) {
            th->del_post_switch = NULL;
            if (prev->next == NULL)
                slp_rq_unremove(th, prev);
            else
                Py_DECREF(prev);
        }
        return NULL;
    }
    Py_XDECREF(tmpval);
    if (!switched)
        Py_CLEAR(th->del_post_switch);
    return ret;
}

/* Make `next` runnable in this thread if it is not (unblock / reinsert). */
int
slp_prepare_next(SlpThread *th, Tasklet *next)
{
    if (next->flags & TF_BLOCKED) {
        slp_channel_remove_slow(next, NULL);
        slp_rq_insert(th, next);
    }
    else if (next->next == NULL) {
        Py_INCREF(next);
        slp_rq_insert(th, next);
    }
    return 0;
}

/*
 * A tasklet's function has returned (result) or raised (NULL).  Runs in the
 * worker greenlet.  Removes `task` from the run queue (its reference goes to
 * th->del_post_switch, released by whoever runs next), decides what runs
 * next, makes it current and returns it (borrowed).  Cannot fail.
 */
Tasklet *
slp_tasklet_end(SlpThread *th, Tasklet *task, PyObject *result)
{
    slp_state *st = th->st;
    PyObject *retval = result;
    Tasklet *next, *wakeup;
    int is_bomb;

    if (retval == NULL) {
        int handled = 0, skip_handler = 0;
        if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
            if (PyErr_ExceptionMatches(st->TaskletExit) || th->thread_id != st->main_thread_id)
                handled = 1;
            else
                skip_handler = 1;   /* a real SystemExit: let main have it */
        }
        if (handled) {
            PyErr_Clear();
            Py_INCREF(Py_None);
            retval = Py_None;
        }
        else {
            if (!skip_handler && st->error_handler != NULL) {
                PyObject *et, *ev, *etb, *h = st->error_handler, *r;
                PyErr_Fetch(&et, &ev, &etb);
                PyErr_NormalizeException(&et, &ev, &etb);
                if (etb != NULL && ev != NULL)
                    PyException_SetTraceback(ev, etb);
                Py_INCREF(h);
                r = PyObject_CallFunctionObjArgs(h, et, ev ? ev : Py_None,
                                                 etb ? etb : Py_None, NULL);
                Py_DECREF(h);
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(etb);
                if (r != NULL) {
                    retval = r;     /* any value: the error is handled */
                    Py_DECREF(r);
                    Py_INCREF(Py_None);
                    retval = Py_None;
                }
            }
            if (retval == NULL) {
                retval = slp_curexc_to_bomb(st);
                if (retval == NULL)
                    Py_FatalError("stackless: out of memory ending a tasklet");
            }
        }
    }
    Py_XSETREF(task->tempval, retval);

    /* remove the dead tasklet; release it (and its result) only after the switch */
    assert(th->current == task);
    slp_rq_remove(th);
    Py_CLEAR(th->del_post_switch);
    Py_CLEAR(th->del_post_value);
    th->del_post_switch = (PyObject *)task;
    is_bomb = slp_is_bomb(st, retval);

    next = th->current;
    if (next == NULL) {
        int blocked;
        wakeup = slp_get_watchdog(th, 0);
        blocked = tasklet_blocked_dir(wakeup);
        if (blocked && !is_bomb) {
            PyObject *bomb = make_deadlock_bomb(st, blocked < 0
                ? "the main tasklet is receiving without a sender available."
                : "the main tasklet is sending without a receiver available.");
            if (bomb == NULL)
                Py_FatalError("stackless: out of memory ending a tasklet");
            Py_XSETREF(task->tempval, bomb);
            is_bomb = 1;
        }
        next = wakeup;
    }
    if (is_bomb) {
        /* the bomb goes to the watchdog; its old tempval is released after
         * the switch (no code may run here: th->current is in flux) */
        next = slp_get_watchdog(th, 0);
        th->del_post_value = next->tempval;
        next->tempval = task->tempval;
        task->tempval = Py_None;
        Py_INCREF(Py_None);
    }
    else {
        /* the result is dropped after the switch (it may run __del__ code) */
        th->del_post_value = task->tempval;
        task->tempval = Py_None;
        Py_INCREF(Py_None);
    }
    slp_prepare_next(th, next);
    th->current = next;
    slp_notify_schedule(th, task, next);
    if (SLP_UNLIKELY(TRACING_ACTIVE(th)))
        switch_tracing(th, task, next, 1);
    if (!(th->runflags & RF_TOTALTIMEOUT))
        th->tick_watermark = slp_tick_deadline(th->tick_counter, th->interval);
    return next;
}

/* check if a tasklet is on the watchdog stack (not counting slot 0) */
static int
check_watchdog(SlpThread *th, Tasklet *task)
{
    Py_ssize_t i = th->watchdogs ? PyList_GET_SIZE(th->watchdogs) : 0;
    while (i > 1) {
        if (PyList_GET_ITEM(th->watchdogs, i - 1) == (PyObject *)task)
            return 1;
        --i;
    }
    return 0;
}

static int
push_watchdog(SlpThread *th, Tasklet *t, int *interrupt)
{
    if (th->watchdogs == NULL) {
        th->watchdogs = PyList_New(1);
        if (th->watchdogs == NULL)
            return -1;
        Py_INCREF(Py_None);
        PyList_SET_ITEM(th->watchdogs, 0, Py_None);
    }
    if (*interrupt) {
        if (PyList_GET_ITEM(th->watchdogs, 0) != Py_None)
            *interrupt = 0;   /* only the outermost timeout is active */
        else {
            Py_INCREF(t);
            if (PyList_SetItem(th->watchdogs, 0, (PyObject *)t) < 0)
                return -1;
        }
    }
    return PyList_Append(th->watchdogs, (PyObject *)t);
}

static Tasklet *
pop_watchdog(SlpThread *th)
{
    Py_ssize_t n;
    Tasklet *t;
    if (th->watchdogs == NULL || (n = PyList_GET_SIZE(th->watchdogs)) <= 1)
        return NULL;
    t = (Tasklet *)PyList_GET_ITEM(th->watchdogs, n - 1);
    Py_INCREF(t);
    if (PyList_SetSlice(th->watchdogs, n - 1, n, NULL) < 0) {
        PyErr_Clear();
    }
    if ((PyObject *)t == PyList_GET_ITEM(th->watchdogs, 0)) {
        Py_INCREF(Py_None);
        PyList_SetItem(th->watchdogs, 0, Py_None);
    }
    return t;
}

PyObject *
slp_run_watchdog(SlpThread *th, long timeout, uint32_t flags)
{
    Tasklet *old_current = th->current;
    PyObject *retval;
    int interrupt = timeout > 0, fail;
    uint32_t old_runflags = 0;
    long old_watermark = 0, old_interval = 0;

    uint32_t old_threadblock = th->runflags & RF_THREADBLOCK;

    if (push_watchdog(th, old_current, &interrupt) < 0)
        return NULL;
    if (interrupt) {
        old_runflags = th->runflags;
        old_watermark = th->tick_watermark;
        old_interval = th->interval;
        th->interval = timeout;
        th->tick_watermark = slp_tick_deadline(th->tick_counter, timeout);
        th->runflags = flags;
        if (slp_preempt_start(th) < 0) {
            Tasklet *undo = pop_watchdog(th);
            Py_XDECREF(undo);
            th->runflags = old_runflags;
            th->tick_watermark = old_watermark;
            th->interval = old_interval;
            return NULL;
        }
    }
    /* unlike Stackless 3.7 (which honours threadblock only together with a
     * timeout), threadblock applies to every run() call */
    th->runflags = (th->runflags & ~RF_THREADBLOCK) | (flags & RF_THREADBLOCK);
    /* the watchdog floats: it lives on the watchdog stack, not in the queue */
    slp_rq_remove(th);
    Py_DECREF(old_current);
    fail = slp_schedule_task(th, &retval, old_current, th->current, NULL);
    if (fail) {
        Tasklet *undo = pop_watchdog(th);
        if (undo != NULL) {
            if (undo->next == NULL)
                slp_rq_unremove(th, undo);   /* steals the popped reference */
            else
                Py_DECREF(undo);
        }
        if (interrupt) {
            slp_preempt_stop(th);
            th->runflags = old_runflags;
            th->tick_watermark = old_watermark;
            th->interval = old_interval;
        }
        th->runflags = (th->runflags & ~RF_THREADBLOCK) | old_threadblock;
        return NULL;
    }
    /* back in old_current */
    th->runflags = (th->runflags & ~RF_THREADBLOCK) | old_threadblock;
    if (check_watchdog(th, old_current)) {
        /* pop deeper watchdogs too, and make them runnable again */
        for (;;) {
            Tasklet *popped = pop_watchdog(th);
            if (popped == NULL)
                break;
            if (popped->next == NULL)
                slp_rq_insert(th, popped);       /* steals */
            else
                Py_DECREF(popped);
            if (popped == old_current)
                break;
        }
        if (interrupt) {
            slp_preempt_stop(th);
            th->runflags = old_runflags;
            th->tick_watermark = old_watermark;
            th->interval = old_interval;
        }
    }
    if (old_current->next == NULL) {
        /* should not happen: be sure the running tasklet is in the queue */
        Py_INCREF(old_current);
        slp_rq_unremove(th, old_current);
    }
    else if (th->current != old_current) {
        th->current = old_current;
    }
    if (retval == NULL) {
        Py_CLEAR(th->interrupted);
        return NULL;
    }
    Py_DECREF(retval);
    if (th->interrupted != NULL) {
        Tasklet *victim = (Tasklet *)th->interrupted;
        th->interrupted = NULL;
        if (!(flags & RF_SOFT)) {
            if (victim->next != NULL && !(victim->flags & TF_BLOCKED)) {
                slp_rq_remove_task(th, victim);
                Py_DECREF(victim);      /* the queue's reference */
            }
            return (PyObject *)victim;
        }
        Py_DECREF(victim);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Per-tasklet trace and profile functions                              */
/* ------------------------------------------------------------------ */

/*
 * CPython keeps one trace and one profile function per thread.  Stackless
 * keeps them per tasklet; so do we: at every switch (only when some tracing
 * is active) the functions of the tasklet that leaves are saved in
 * th->traces and those of the tasklet that comes are installed.  While a
 * timed run() is active, our own tick counter is installed as the C trace
 * function and chains to the "user" trace function kept in old_tracefunc.
 */

static Py_tracefunc sys_trace_trampoline = NULL;
static Py_tracefunc sys_profile_trampoline = NULL;

/* learn the C functions behind sys.settrace / sys.setprofile */
static int
find_trampolines(SlpThread *th)
{
    PyThreadState *ts = th->tstate;
    Py_tracefunc tf, pf;
    PyObject *to, *po, *sys, *r;
    int saved_installed;
    if (sys_trace_trampoline != NULL && sys_profile_trampoline != NULL)
        return 0;
    sys = PyImport_ImportModule("sys");
    if (sys == NULL)
        return -1;
    tf = ts->c_tracefunc;
    to = ts->c_traceobj;
    pf = ts->c_profilefunc;
    po = ts->c_profileobj;
    Py_XINCREF(to);
    Py_XINCREF(po);
    /* sys.settrace is wrapped (stackless/__init__.py) to put the tick counter
     * back in front inside a timed run: it must not, or the "trampoline"
     * learnt would be slp_tracefunc itself, which then chains to itself */
    saved_installed = th->trace_installed;
    th->trace_installed = 0;
    r = PyObject_CallMethod(sys, "settrace", "O", sys);
    if (r != NULL) {
        Py_DECREF(r);
        sys_trace_trampoline = ts->c_tracefunc;
        r = PyObject_CallMethod(sys, "setprofile", "O", sys);
        if (r != NULL) {
            Py_DECREF(r);
            sys_profile_trampoline = ts->c_profilefunc;
        }
    }
    Py_DECREF(sys);
    th->trace_installed = saved_installed;
    PyEval_SetTrace(tf, to);
    PyEval_SetProfile(pf, po);
    Py_XDECREF(to);
    Py_XDECREF(po);
    return (sys_trace_trampoline && sys_profile_trampoline) ? 0 : -1;
}

static void
get_user_trace(SlpThread *th, Py_tracefunc *f, PyObject **o)
{
    PyThreadState *ts = th->tstate;
#if !SLP_MONITORING
    if (ts->c_tracefunc == slp_tracefunc) {
        *f = th->old_tracefunc;
        *o = th->old_traceobj;
        return;
    }
#endif
    *f = ts->c_tracefunc;
    *o = ts->c_traceobj;
}

static void
set_user_trace(SlpThread *th, Py_tracefunc f, PyObject *o)
{
#if !SLP_MONITORING
    PyThreadState *ts = th->tstate;
    if (th->trace_installed && ts->c_tracefunc == slp_tracefunc) {
        Py_XINCREF(o);
        Py_XSETREF(th->old_traceobj, o);
        th->old_tracefunc = f;
        PyEval_SetTrace(slp_tracefunc, o);
        return;
    }
#else
    (void)th;
#endif
    PyEval_SetTrace(f, o);
}

static PyObject *
trace_key(Tasklet *t)
{
    return PyLong_FromVoidPtr(t);
}

/* the saved entry of t (borrowed) or NULL */
static PyObject *
trace_entry(SlpThread *th, Tasklet *t)
{
    PyObject *key, *e;
    if (!(t->flags & TF_TRACED) || th->traces == NULL)
        return NULL;
    key = trace_key(t);
    if (key == NULL) {
        PyErr_Clear();
        return NULL;
    }
    e = PyDict_GetItemWithError(th->traces, key);
    Py_DECREF(key);
    if (e == NULL)
        PyErr_Clear();
    return e;
}

static void
trace_store(SlpThread *th, Tasklet *t, Py_tracefunc tf, PyObject *to, Py_tracefunc pf, PyObject *po)
{
    PyObject *key, *e;
    if (th->traces == NULL && (th->traces = PyDict_New()) == NULL)
        goto error;
    if (tf == NULL && pf == NULL) {
        if (t->flags & TF_TRACED) {
            key = trace_key(t);
            if (key == NULL)
                goto error;
            if (PyDict_DelItem(th->traces, key) < 0)
                PyErr_Clear();
            Py_DECREF(key);
            t->flags &= ~TF_TRACED;
            th->ntraced--;
        }
        return;
    }
    key = trace_key(t);
    e = Py_BuildValue("(NON O)", PyLong_FromVoidPtr((void *)tf), to ? to : Py_None,
                      PyLong_FromVoidPtr((void *)pf), po ? po : Py_None);
    if (key == NULL || e == NULL || PyDict_SetItem(th->traces, key, e) < 0) {
        Py_XDECREF(key);
        Py_XDECREF(e);
        goto error;
    }
    Py_DECREF(key);
    Py_DECREF(e);
    if (!(t->flags & TF_TRACED)) {
        t->flags |= TF_TRACED;
        th->ntraced++;
    }
    return;
error:
    PyErr_WriteUnraisable(NULL);
}

static void
trace_load(PyObject *e, Py_tracefunc *tf, PyObject **to, Py_tracefunc *pf, PyObject **po)
{
    *tf = (Py_tracefunc)PyLong_AsVoidPtr(PyTuple_GET_ITEM(e, 0));
    *to = PyTuple_GET_ITEM(e, 1);
    *pf = (Py_tracefunc)PyLong_AsVoidPtr(PyTuple_GET_ITEM(e, 2));
    *po = PyTuple_GET_ITEM(e, 3);
    if (*to == Py_None)
        *to = NULL;
    if (*po == Py_None)
        *po = NULL;
}

SLP_COLD static void
switch_tracing(SlpThread *th, Tasklet *prev, Tasklet *next, int prev_dying)
{
    PyThreadState *ts = th->tstate;
    Py_tracefunc tf, pf, ntf = NULL, npf = NULL;
    PyObject *to, *po, *nto = NULL, *npo = NULL, *e;
    PyObject *et, *ev, *etb;

    PyErr_Fetch(&et, &ev, &etb);
    get_user_trace(th, &tf, &to);
    pf = ts->c_profilefunc;
    po = ts->c_profileobj;
    if (!prev_dying)
        trace_store(th, prev, tf, to, pf, po);
    else
        trace_store(th, prev, NULL, NULL, NULL, NULL);
    e = trace_entry(th, next);
    if (e != NULL) {
        Py_INCREF(e);
        trace_load(e, &ntf, &nto, &npf, &npo);
        Py_XINCREF(nto);
        Py_XINCREF(npo);
        trace_store(th, next, NULL, NULL, NULL, NULL);   /* it lives in ts now */
        Py_DECREF(e);
    }
    if (ntf != tf || nto != to)
        set_user_trace(th, ntf, nto);
    if (npf != pf || npo != po)
        PyEval_SetProfile(npf, npo);
#if SLP_MONITORING
    /* CPython >= 3.12 just instrumented the frames of the tasklet we are
     * leaving; redo it from next's own frames once it has resumed */
    if ((ntf != NULL || npf != NULL) && next->greenlet != NULL)
        th->retrace = 1;
#endif
    Py_XDECREF(nto);
    Py_XDECREF(npo);
    PyErr_Restore(et, ev, etb);
}

PyObject *
slp_trace_get(SlpThread *th, Tasklet *t, int profile)
{
    PyObject *o = NULL, *e;
    if (t->thread != NULL && t->thread->alive && t->thread->current == t) {
        SlpThread *tt = t->thread;
        if (profile)
            o = tt->tstate->c_profileobj;
        else {
            Py_tracefunc f;
            get_user_trace(tt, &f, &o);
        }
    }
    else if (t->thread != NULL && t->thread->alive && (e = trace_entry(t->thread, t)) != NULL) {
        o = PyTuple_GET_ITEM(e, profile ? 3 : 1);
    }
    (void)th;
    if (o == NULL)
        o = Py_None;
    Py_INCREF(o);
    return o;
}

int
slp_trace_set(SlpThread *cur, Tasklet *t, int profile, PyObject *value)
{
    SlpThread *th = t->thread;
    Py_tracefunc tf = NULL, pf = NULL, f;
    PyObject *to = NULL, *po = NULL, *e;

    if (value == Py_None)
        value = NULL;
    if (value != NULL && find_trampolines(cur) < 0)
        return -1;
    f = value ? (profile ? sys_profile_trampoline : sys_trace_trampoline) : NULL;
    if (th != NULL && th->alive && th->current == t) {
        if (th != cur) {
            PyErr_Format(PyExc_RuntimeError, "You cannot set the %s function of the current "
                         "tasklet of another thread", profile ? "profile" : "trace");
            return -1;
        }
        if (profile)
            PyEval_SetProfile(f, value);
        else
            set_user_trace(th, f, value);
        return 0;
    }
    if (th == NULL || !th->alive || (t->greenlet == NULL && t->u.c.args == NULL)) {
        if (value == NULL)
            return 0;
        RUNTIME_ERROR("tasklet is not alive", -1);
    }
    e = trace_entry(th, t);
    if (e != NULL)
        trace_load(e, &tf, &to, &pf, &po);
    Py_XINCREF(to);
    Py_XINCREF(po);
    if (profile) {
        Py_XSETREF(po, value);
        Py_XINCREF(po);
        pf = f;
    }
    else {
        Py_XSETREF(to, value);
        Py_XINCREF(to);
        tf = f;
    }
    trace_store(th, t, tf, to, pf, po);
    Py_XDECREF(to);
    Py_XDECREF(po);
    return 0;
}

/* t is going away: drop its saved tracing */
void
slp_trace_forget(Tasklet *t)
{
    if ((t->flags & TF_TRACED) && t->thread != NULL && t->thread->alive)
        trace_store(t->thread, t, NULL, NULL, NULL, NULL);
    t->flags &= ~TF_TRACED;
}

/* ------------------------------------------------------------------ */
/* Introspection                                                        */
/* ------------------------------------------------------------------ */

PyObject *
slp_getthreads(slp_state *st)
{
    PyThreadState *me = PyThreadState_Get(), *ts;
    PyObject *lis = PyList_New(0), *id;
    int has_main = 0;
    if (lis == NULL)
        return NULL;
    slp_collect_graveyard(st);
    for (ts = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(me));
         ts != NULL; ts = PyThreadState_Next(ts)) {
        id = PyLong_FromUnsignedLong(((PyThreadState *)ts)->thread_id);
        if (id == NULL || PyList_Append(lis, id) < 0) {
            Py_XDECREF(id);
            Py_DECREF(lis);
            return NULL;
        }
        if (((PyThreadState *)ts)->thread_id == st->main_thread_id)
            has_main = 1;
        Py_DECREF(id);
    }
    /* the thread list is newest first: return creation order, main first */
    if (PyList_Reverse(lis) < 0) {
        Py_DECREF(lis);
        return NULL;
    }
    if (has_main) {
        Py_ssize_t i, n = PyList_GET_SIZE(lis);
        for (i = 0; i < n; i++) {
            PyObject *o = PyList_GET_ITEM(lis, i);
            if (PyLong_AsUnsignedLong(o) == st->main_thread_id && i > 0) {
                Py_INCREF(o);
                if (PyList_SetSlice(lis, i, i + 1, NULL) < 0 || PyList_Insert(lis, 0, o) < 0) {
                    Py_DECREF(o);
                    Py_DECREF(lis);
                    return NULL;
                }
                Py_DECREF(o);
                break;
            }
        }
    }
    return lis;
}

/* get_thread_info(thread_id=-1, flags=0) */
PyObject *
slp_get_thread_info(slp_state *st, PyObject *args)
{
    PyObject *tid_obj = NULL, *ret;
    unsigned long flags = 0;
    SlpThread *th = NULL;
    PyThreadState *ts = NULL;

    if (!PyArg_ParseTuple(args, "|O!k:get_thread_info", &PyLong_Type, &tid_obj, &flags))
        return NULL;
    if (tid_obj == NULL || PyLong_AsLong(tid_obj) == -1) {
        PyErr_Clear();
        th = slp_thread_get(st);
        if (th == NULL)
            return NULL;
    }
    else {
        unsigned long id = PyLong_AsUnsignedLong(tid_obj);
        PyThreadState *me = PyThreadState_Get();
        if (id == (unsigned long)-1 && PyErr_Occurred())
            return NULL;
        for (ts = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(me));
             ts != NULL; ts = PyThreadState_Next(ts)) {
            if (ts->thread_id == id)
                break;
        }
        if (ts == NULL)
            RUNTIME_ERROR("Thread id not found", NULL);
        if (ts == me) {
            th = slp_thread_get(st);
            if (th == NULL)
                return NULL;
        }
        else
            th = find_thread_by_tstate(st, ts);
    }
    if (th == NULL)
        ret = Py_BuildValue("(OOi)", Py_None, Py_None, 0);
    else
        ret = Py_BuildValue("(OOn)",
                            th->main ? (PyObject *)th->main : Py_None,
                            (th->runcount && th->current) ? (PyObject *)th->current : Py_None,
                            th->runcount);
    if (ret == NULL)
        return NULL;
    if (flags & (1ul << 30)) {
        Py_ssize_t n = PyTuple_GET_SIZE(ret);
        if (_PyTuple_Resize(&ret, n + 3) < 0)
            return NULL;
        PyTuple_SET_ITEM(ret, n, PyLong_FromLong(0));
        PyTuple_SET_ITEM(ret, n + 1, PyLong_FromLong(0));
        Py_INCREF(Py_None);
        PyTuple_SET_ITEM(ret, n + 2, Py_None);
    }
    if (flags & (1ul << 31)) {
        Py_ssize_t n = PyTuple_GET_SIZE(ret);
        PyObject *w = (th && th->watchdogs) ? th->watchdogs : Py_None;
        if (_PyTuple_Resize(&ret, n + 1) < 0)
            return NULL;
        Py_INCREF(w);
        PyTuple_SET_ITEM(ret, n, w);
    }
    return ret;
}

void
slp_state_finalize(slp_state *st)
{
    (void)st;
}
