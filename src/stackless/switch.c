/*
 * switch.c -- every call into greenlet's C API lives here.
 *
 * greenlet.h keeps its API table in a `static` variable, so each C file that
 * calls greenlet would need its own import; keeping all calls in this file
 * avoids that trap.  One exception: the scheduler's fast switch calls
 * PyGreenlet_Switch through the pointer slp_greenlet_switch, taken from the
 * table here at import (one C frame less on the hottest path).
 *
 * Design (see also docs/stackless-core.md):
 *
 *   - The main tasklet of a thread runs on the greenlet that was current when
 *     the thread first used stackless (normally greenlet's main greenlet).
 *   - Every other tasklet runs on a *worker* greenlet.  A worker runs a C loop
 *     (slp_worker_run): take the tasklet handed over in th->starting, call its
 *     function, end it (scheduler.c: slp_tasklet_end), then either run the
 *     next tasklet inline when that one has not started yet (no switch at
 *     all: create+run+finish of a trivial tasklet costs no greenlet), or park
 *     itself in the per-thread pool of idle workers and switch to the next
 *     tasklet.  A parked worker is reused by the next tasklet that starts.
 *   - New workers are always started from the *spawner* greenlet, a tiny C
 *     loop that only switches into freshly created workers.  greenlet starts
 *     a new greenlet on the C stack at the point where it is first switched
 *     to; starting every worker from the spawner's shallow, fixed stack depth
 *     (instead of from whatever tasklet happened to start it) keeps the C
 *     stacks from nesting ever deeper.  The spawner starts them in four
 *     "lanes" of depth (see switch_in_lane), so that switches between
 *     workers of different lanes copy less C stack.
 *   - Values never travel through greenlet.switch(): they go through
 *     Tasklet.tempval (scheduler.c), switches pass no arguments.
 *
 * Hazard: greenlet switches only within the thread that owns a greenlet.  The
 * scheduler guarantees that `next` always belongs to the current thread.
 */
#include "stackless_impl.h"
#include "greenlet.h"
#include <alloca.h>

slp_greenlet_switch_fn slp_greenlet_switch = NULL;

int
slp_greenlet_import(void)
{
    if (_PyGreenlet_API != NULL)
        return 0;
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL)
        return -1;
    slp_greenlet_switch = (slp_greenlet_switch_fn)_PyGreenlet_API[PyGreenlet_Switch_NUM];
    return 0;
}

PyObject *
slp_greenlet_getcurrent(void)
{
    return (PyObject *)PyGreenlet_GetCurrent();
}

/* A new (unstarted) greenlet running `func` with the given parent. */
static PyObject *
new_greenlet(PyObject *func, PyObject *parent)
{
    return (PyObject *)PyGreenlet_New(func, (PyGreenlet *)parent);
}

/*
 * Leave `prev` (the running tasklet) for `next`.  The scheduler has already
 * made `next` current (th->current == next).  Returns when some tasklet
 * switches back to `prev`: 0, or -1 with an exception set when the switch did
 * not happen (then nothing has changed on the greenlet side, the caller
 * restores th->current).
 */
int
slp_transfer(SlpThread *th, Tasklet *prev, Tasklet *next)
{
    PyObject *r, *g;
    int starting = next->greenlet == NULL;
    (void)prev;

    if (starting) {
        th->starting = next;
        if (th->npool > 0) {
            /* a parked worker: ownership of its reference moves to `next` */
            g = th->pool[--th->npool];
            th->pool[th->npool] = NULL;
            next->greenlet = g;
        }
        else {
            if (th->spawner == NULL) {
                th->spawner = new_greenlet(th->st->spawner_func, th->main_greenlet);
                if (th->spawner == NULL)
                    goto fail_start;
            }
            next->greenlet = new_greenlet(th->st->worker_func, th->spawner);
            if (next->greenlet == NULL)
                goto fail_start;
            g = th->spawner;
        }
    }
    else {
        g = next->greenlet;
    }
    r = (PyObject *)PyGreenlet_Switch((PyGreenlet *)g, NULL, NULL);
    if (r == NULL) {
        if (th->current == next) {
            /* the switch itself failed: undo the start */
            if (starting) {
                th->starting = NULL;
                Py_CLEAR(next->greenlet);
            }
        }
        return -1;
    }
    Py_DECREF(r);
    return 0;

fail_start:
    th->starting = NULL;
    return -1;
}

/* Run the function of a tasklet that has just been handed to this worker. */
static PyObject *
call_tasklet_function(SlpThread *th, Tasklet *t)
{
    PyThreadState *ts = PyThreadState_Get();
    PyObject *func, *args, *kwargs = NULL, *result, *ctx;
    PyObject *val;

    t->flags |= TF_STARTED;
    slp_sync_tracing(ts);
    t->preempt_epoch = th->preempt_epoch;   /* new frames: instrumented on entry */
    /* the tasklet starts in its own contextvars.Context */
    ctx = t->context;
    t->context = NULL;
    Py_XSETREF(ts->context, ctx);
    ts->context_ver++;

    func = t->u.c.func;
    args = t->u.c.args;
    t->u.c.func = NULL;
    t->u.c.args = NULL;
    slp_started_link(th, t);
    if (t->flags & TF_KWARGS) {
        PyObject *pair = args;
        args = PyTuple_GET_ITEM(pair, 0);
        kwargs = PyTuple_GET_ITEM(pair, 1);
        Py_INCREF(args);
        Py_INCREF(kwargs);
        Py_DECREF(pair);
        t->flags &= ~TF_KWARGS;
    }
    val = tasklet_claimval(t);
    if (slp_is_bomb(th->st, val)) {
        /* killed or thrown at before it ever ran: the function is not called */
        result = slp_bomb_explode(val);
    }
    else {
        Py_DECREF(val);
        if (func == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "the tasklet was not bound to a function");
            result = NULL;
        }
        else if (args == NULL && kwargs == NULL)
            result = PyObject_CallNoArgs(func);
        else if (args == NULL && (args = PyTuple_New(0)) == NULL)
            result = NULL;
        else if (kwargs == NULL)
            /* vectorcall straight from the tuple's items: one C frame
             * (_PyObject_Call's) less under every tasklet, and that slice of
             * C stack is copied at each of its switches */
            result = PyObject_Vectorcall(func, &PyTuple_GET_ITEM(args, 0),
                                         (size_t)PyTuple_GET_SIZE(args), NULL);
        else
            result = PyObject_Call(func, args, kwargs);
    }
    Py_XDECREF(func);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    return result;
}

/*
 * The body of every worker greenlet (see the design note at the top).
 * `module` is the _stackless module (the builtin's self), unused.
 */
PyObject *
slp_worker_run(PyObject *module, PyObject *Py_UNUSED(args))
{
    SlpThread *th = slp_thread_current();
    PyObject *self_g = slp_greenlet_getcurrent();   /* held for our whole life */
    (void)module;

    if (th == NULL || self_g == NULL) {
        Py_XDECREF(self_g);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "stackless worker started outside a scheduler");
        return NULL;
    }
    for (;;) {
        Tasklet *t = th->starting, *next;
        PyObject *result;
        th->starting = NULL;
        assert(t != NULL && t->greenlet == self_g && th->current == t);
        Py_CLEAR(th->del_post_switch);
        Py_CLEAR(th->del_post_value);

        result = call_tasklet_function(th, t);
        /* t is removed from the run queue; its queue reference is parked in
         * th->del_post_switch; next is current and prepared */
        next = slp_tasklet_end(th, t, result);
        if (t->flags & TF_LINKED)
            slp_started_unlink(th, t);
        Py_CLEAR(t->greenlet);

        if (next->greenlet == NULL) {
            /* start the next tasklet right here: no switch needed */
            Py_INCREF(self_g);
            next->greenlet = self_g;
            th->starting = next;
            continue;
        }
        if (th->npool < SLP_POOL_MAX && th->alive) {
            PyObject *r;
            Py_INCREF(self_g);
            th->pool[th->npool++] = self_g;
            r = (PyObject *)PyGreenlet_Switch((PyGreenlet *)next->greenlet, NULL, NULL);
            if (r == NULL) {
                /* greenlet is killing this parked worker (GreenletExit) */
                Py_DECREF(self_g);
                return NULL;
            }
            Py_DECREF(r);
            /* resumed by slp_transfer: th->starting holds our next tasklet */
            continue;
        }
        /* retire: finish this greenlet, which continues in its parent */
        if (PyGreenlet_SetParent((PyGreenlet *)self_g, (PyGreenlet *)next->greenlet) < 0) {
            Py_DECREF(self_g);
            return NULL;
        }
        Py_DECREF(self_g);
        Py_RETURN_NONE;
    }
}

/*
 * Stack lanes.  greenlet keeps one C stack per thread: switching from A to B
 * copies the part of A's stack that B's region overlaps to the heap (a
 * malloc'd copy) and copies B's saved part back.  Workers all started at the
 * same depth overlap completely, so a switch between two of them copies both
 * slices (~1.7 KB each, and glibc serves blocks above 1 KB from its slower
 * bins).  So the spawner starts new workers in SLP_LANES lanes, each
 * SLP_LANE_BYTES deeper than the last: a worker's stack (its slice is
 * normally below SLP_LANE_BYTES) then does not overlap the workers of the
 * other lanes, and a switch between tasklets of different lanes (or between
 * main and a worker) copies nothing or little.  greenlet stays correct for
 * any layout; lanes only decide how much it copies.  Cost: at most
 * SLP_LANES * SLP_LANE_BYTES (12 KB) more C stack below the spawner.
 */
#define SLP_LANES 4
#define SLP_LANE_BYTES 3072

static __attribute__((noinline)) PyObject *
switch_in_lane(PyObject *w, unsigned lane)
{
    /* lanes 1..SLP_LANES: even the first keeps clear of main's stack */
    volatile char *pad = alloca((size_t)(lane % SLP_LANES + 1) * SLP_LANE_BYTES);
    PyObject *r;
    pad[0] = 0;
    r = (PyObject *)PyGreenlet_Switch((PyGreenlet *)w, NULL, NULL);
    pad[0] = 1;     /* keep the padding alive across the switch */
    return r;
}

/* The body of the spawner greenlet: start every new worker from here. */
PyObject *
slp_spawner_run(PyObject *module, PyObject *Py_UNUSED(args))
{
    SlpThread *th = slp_thread_current();
    (void)module;
    if (th == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "stackless spawner started outside a scheduler");
        return NULL;
    }
    for (;;) {
        PyObject *r, *w;
        Tasklet *t = th->starting;
        if (t == NULL || t->greenlet == NULL) {
            PyErr_SetString(PyExc_SystemError, "stackless spawner resumed without work");
            return NULL;
        }
        w = t->greenlet;
        Py_INCREF(w);
        r = switch_in_lane(w, th->spawned++);
        Py_DECREF(w);
        if (r == NULL)
            return NULL;   /* being killed */
        Py_DECREF(r);
    }
}

/* The frame a suspended greenlet is executing (new reference or None). */
PyObject *
slp_greenlet_frame(PyObject *greenlet)
{
    return PyObject_GetAttrString(greenlet, "gr_frame");
}

PyObject *
slp_greenlet_get_context(PyObject *greenlet)
{
    return PyObject_GetAttrString(greenlet, "gr_context");
}

int
slp_greenlet_set_context(PyObject *greenlet, PyObject *ctx)
{
    return PyObject_SetAttrString(greenlet, "gr_context", ctx);
}

/* Move every parked worker (and the spawner) into `into_list` (or drop them
 * when into_list is NULL).  Dropping a parked worker in its own live thread
 * makes greenlet throw GreenletExit into it, which ends it cleanly. */
void
slp_pool_clear(SlpThread *th, PyObject *into_list)
{
    while (th->npool > 0) {
        PyObject *g = th->pool[--th->npool];
        th->pool[th->npool] = NULL;
        if (into_list != NULL && PyList_Append(into_list, g) < 0)
            PyErr_Clear();
        Py_DECREF(g);
    }
    if (th->spawner != NULL) {
        PyObject *g = th->spawner;
        th->spawner = NULL;
        if (into_list != NULL && PyList_Append(into_list, g) < 0)
            PyErr_Clear();
        Py_DECREF(g);
    }
}

/* End a parked greenlet (a pooled worker or the spawner) in its own live
 * thread: make us its parent and throw GreenletExit into it; it unwinds
 * through our C loop only and comes back here. */
static void
end_parked(PyObject *g)
{
    PyObject *cur = slp_greenlet_getcurrent(), *r;
    if (cur == NULL) {
        PyErr_Clear();
        return;
    }
    if (PyGreenlet_ACTIVE((PyGreenlet *)g) &&
        PyGreenlet_SetParent((PyGreenlet *)g, (PyGreenlet *)cur) == 0) {
        r = PyGreenlet_Throw((PyGreenlet *)g, PyExc_GreenletExit, NULL, NULL);
        Py_XDECREF(r);
    }
    PyErr_Clear();
    Py_DECREF(cur);
}

/* End every parked worker and the spawner of a thread that is ending (called
 * in that thread, while no tasklet but main is running). */
void
slp_pool_end(SlpThread *th)
{
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    while (th->npool > 0) {
        PyObject *g = th->pool[--th->npool];
        th->pool[th->npool] = NULL;
        end_parked(g);
        Py_DECREF(g);
    }
    if (th->spawner != NULL) {
        PyObject *g = th->spawner;
        th->spawner = NULL;
        end_parked(g);
        Py_DECREF(g);
    }
    PyErr_Restore(et, ev, etb);
}
