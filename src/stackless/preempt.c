/*
 * preempt.c -- the tick counter behind run(timeout) pre-emption.
 *
 * A timed run() (scheduler.c: slp_run_watchdog) calls slp_preempt_start()
 * when it begins and slp_preempt_stop() when it ends; in between every
 * bytecode instruction of Python code run by the thread counts one tick, and
 * when th->tick_counter reaches th->tick_watermark the running tasklet is
 * interrupted (interrupt_timeout: it switches to the watchdog).  Without a
 * timed run nothing is installed.
 *
 * Two mechanisms, chosen at compile time:
 *
 * CPython 3.11: a C trace function (PyEval_SetTrace) chained in front of the
 *   user's trace function; frames get f_trace_opcodes so that each
 *   instruction is an event.  sys.settrace() inside a timed run puts it back
 *   in front (slp_retrace, called by the wrapper in stackless/__init__.py).
 *
 * CPython >= 3.12: PEP 669 made sys.settrace/PyEval_SetTrace one more
 *   sys.monitoring tool, and monitoring instruments *code objects* lazily:
 *   setting events re-instruments only the code of frames on the thread's
 *   current frame chain, the rest when a function is entered (RESUME).  A
 *   tasklet suspended in another greenlet is on no chain and resumes in the
 *   middle of its function: it would keep running uninstrumented code (no
 *   tick ever, a `while True: pass` never pre-empted).  So:
 *     - ticks come from a sys.monitoring tool of our own (an id among 4, 3,
 *       5 that is free, named "stackless"): INSTRUCTION events, counted by a
 *       C builtin (mon_tick).  The events are switched on by a timed run()
 *       and off SLP_MON_LINGER instructions after the last one has ended
 *       (see preempt_release).  A user's sys.settrace and sys.monitoring
 *       tools are separate tools and are left alone.
 *     - th->preempt_epoch is bumped in every thread when the events are
 *       switched on or off.  A tasklet that resumes with an older epoch
 *       (Tasklet.preempt_epoch) has the code of every frame of its chain
 *       brought up to date (reinstrument_chain: sys.monitoring.
 *       set_local_events to a value and back makes CPython instrument that
 *       code object now).  After "on" that adds our events to the code a
 *       suspended frame runs; after "off" it takes them off again (else a
 *       suspended loop would keep paying for INSTRUCTION instrumentation).
 *       Cost: one frame walk per tasklet per epoch; per switch, one compare.
 *     - once claimed, the tool id stays ours (with no events set outside
 *       timed runs): another tool taking it could get our leftover events.
 *     - the same resume hook fixes per-tasklet tracing: when a switch
 *       installs the trace/profile function of a suspended tasklet
 *       (scheduler.c: switch_tracing sets th->retrace), the function is set
 *       again after the switch, from the tasklet's own frame chain, so that
 *       CPython instruments its frames (else e.g. no 'return' event).
 */
#include "stackless_impl.h"

/* ------------------------------------------------------------------ */
/* Interrupting the running tasklet                                     */
/* ------------------------------------------------------------------ */

/* Called from the tick counter when the time slice is over; we are inside a
 * trace function (3.11) or a sys.monitoring callback (3.12+). */
static int
interrupt_timeout(SlpThread *th)
{
    Tasklet *current = th->current, *watchdog;
    PyThreadState *ts = PyThreadState_Get();
    PyObject *ret = NULL;
    int fail;

    if ((th->runflags & RF_SOFT) || (current->flags & TF_ATOMIC) || th->schedlock ||
        th->switch_trap || th->interrupted != NULL) {
        th->tick_watermark = slp_tick_deadline(th->tick_counter, th->interval);
        current->flags |= TF_PENDING_IRQ;
        return 0;
    }
    watchdog = slp_get_watchdog(th, 1);
    if (watchdog == current || watchdog->next != NULL) {
        th->tick_watermark = slp_tick_deadline(th->tick_counter, th->interval);
        return 0;
    }
    current->flags &= ~TF_PENDING_IRQ;
    th->interrupted = (PyObject *)current;
    Py_INCREF(current);

    /* CPython counts "inside a trace/monitoring callback" in ts->tracing and
     * sends no event while it is > 0.  Let the tasklets we switch to trace
     * and tick normally, and restore the state when we come back. */
#if PY_VERSION_HEX < 0x030C0000
    {
        int saved_tracing = ts->tracing;
        ts->tracing = 0;
        ts->cframe->use_tracing = 255;
        fail = slp_schedule_task(th, &ret, current, watchdog, NULL);
        ts->tracing = saved_tracing;
        ts->cframe->use_tracing = 0;
    }
#else
    /* 3.12+: the callback runs with ts->tracing == 1 (call_one_instrument);
     * the public pair below undoes and redoes exactly that. */
    PyThreadState_LeaveTracing(ts);
    fail = slp_schedule_task(th, &ret, current, watchdog, NULL);
    PyThreadState_EnterTracing(ts);
#endif
    if (fail) {
        Py_CLEAR(th->interrupted);
        return -1;
    }
    if (ret == NULL)
        return -1;     /* e.g. killed while interrupted: raise in the frame */
    Py_DECREF(ret);
    return 0;
}

#if !SLP_MONITORING
/* ------------------------------------------------------------------ */
/* CPython 3.11: a chained C trace function                             */
/* ------------------------------------------------------------------ */

/*
 * Frames entered while it is installed get f_trace_opcodes, so that every
 * bytecode instruction is an event (a Stackless tick was one virtual
 * instruction; a loop like `while True: pass` has no line events at all).
 * Opcode events are not passed on to a chained user trace function, which
 * did not ask for them.
 */
int
slp_tracefunc(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    SlpThread *th = slp_thread_current();
    if (th == NULL)
        return 0;
    if (what == PyTrace_CALL || th->mark_frame) {
        th->mark_frame = 0;
        if (PyObject_SetAttr((PyObject *)frame, th->st->str_f_trace_opcodes, Py_True) < 0)
            PyErr_Clear();
    }
    if (th->old_tracefunc != NULL && what != PyTrace_OPCODE) {
        int r = th->old_tracefunc(obj, frame, what, arg);
        if (r != 0)
            return r;
    }
    if (th->interval > 0 && ++th->tick_counter >= th->tick_watermark)
        return interrupt_timeout(th);
    return 0;
}

/* sys.settrace() was called (see stackless/__init__.py): if a timed run is
 * active in this thread, keep the tick counter in front of the new function. */
void
slp_retrace(SlpThread *th)
{
    PyThreadState *ts = th->tstate;
    PyObject *o;
    if (!th->trace_installed || ts->c_tracefunc == slp_tracefunc)
        return;
    o = ts->c_traceobj;
    Py_XINCREF(o);
    Py_XSETREF(th->old_traceobj, o);
    th->old_tracefunc = ts->c_tracefunc;
    PyEval_SetTrace(slp_tracefunc, o);
    th->mark_frame = 1;
}

int
slp_preempt_start(SlpThread *th)
{
    PyThreadState *ts = PyThreadState_Get();
    if (ts->c_tracefunc == slp_tracefunc)
        return 0;
    th->old_tracefunc = ts->c_tracefunc;
    th->old_traceobj = ts->c_traceobj;
    Py_XINCREF(th->old_traceobj);
    PyEval_SetTrace(slp_tracefunc, th->old_traceobj);
    th->trace_installed = 1;
    th->mark_frame = 1;
    return 0;
}

void
slp_preempt_stop(SlpThread *th)
{
    PyThreadState *ts = PyThreadState_Get();
    PyObject *obj;
    if (!th->trace_installed)
        return;
    th->trace_installed = 0;
    obj = th->old_traceobj;
    th->old_traceobj = NULL;
    if (ts->c_tracefunc == slp_tracefunc)
        PyEval_SetTrace(th->old_tracefunc, obj);
    th->old_tracefunc = NULL;
    Py_XDECREF(obj);
}

void
slp_preempt_thread_gone(SlpThread *th)
{
    (void)th;
}

int
slp_preempt_init(PyObject *module, slp_state *st)
{
    (void)module;
    (void)st;
    return 0;
}

#else  /* SLP_MONITORING */
/* ------------------------------------------------------------------ */
/* CPython >= 3.12: a sys.monitoring tool of our own                    */
/* ------------------------------------------------------------------ */

/* sys.monitoring.events.INSTRUCTION (1 << PY_MONITORING_EVENT_INSTRUCTION);
 * the same value in 3.12, 3.13 and 3.14 (3.14 split BRANCH into
 * BRANCH_LEFT/BRANCH_RIGHT, which we do not use). */
#define SLP_EV_INSTRUCTION (1 << 6)

/* instructions outside timed runs before the events are switched off */
#define SLP_MON_LINGER 1000

/* the tool ids we may take, in order: 0-2 are DEBUGGER/COVERAGE/PROFILER by
 * convention, 5 OPTIMIZER (rarely used) */
static const int tool_candidates[] = {4, 3, 5};

static PyObject *
get_monitoring(void)
{
    PyObject *m = PySys_GetObject("monitoring");   /* borrowed */
    if (m == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "run(timeout) needs sys.monitoring");
        return NULL;
    }
    Py_INCREF(m);
    return m;
}

/* Is our tool id still ours, with our events if they should be on?  Someone
 * may have freed it (free_tool_id also clears its events and callbacks from
 * 3.14 on) or cleared it (clear_tool_id, 3.14). */
static int
check_tool(slp_state *st, PyObject *mon)
{
    PyObject *r, *id;
    int ours;
    long events = 0;
    /* once per timed run: the two functions are looked up once */
    if (st->mon_get_tool == NULL &&
        (st->mon_get_tool = PyObject_GetAttrString(mon, "get_tool")) == NULL)
        return -1;
    if (st->mon_get_events == NULL &&
        (st->mon_get_events = PyObject_GetAttrString(mon, "get_events")) == NULL)
        return -1;
    if ((id = PyLong_FromLong(st->mon_tool)) == NULL)
        return -1;
    r = PyObject_CallOneArg(st->mon_get_tool, id);
    if (r == NULL) {
        Py_DECREF(id);
        return -1;
    }
    ours = PyUnicode_Check(r) && PyUnicode_CompareWithASCIIString(r, "stackless") == 0;
    Py_DECREF(r);
    if (ours && st->mon_on) {
        r = PyObject_CallOneArg(st->mon_get_events, id);
        if (r == NULL) {
            Py_DECREF(id);
            return -1;
        }
        events = PyLong_AsLong(r);
        Py_DECREF(r);
        if (events == -1 && PyErr_Occurred()) {
            Py_DECREF(id);
            return -1;
        }
    }
    Py_DECREF(id);
    if (!ours || (st->mon_on && events != SLP_EV_INSTRUCTION)) {
        /* start over: claim again (this id if it is free) */
        if (ours) {
            r = PyObject_CallMethod(mon, "free_tool_id", "i", st->mon_tool);
            if (r == NULL)
                return -1;
            Py_DECREF(r);
        }
        st->mon_tool = -1;
        st->mon_on = 0;
    }
    return 0;
}

/* Claim a tool id and register the callback (once per process, unless
 * someone took the id from us). */
static int
claim_tool(slp_state *st)
{
    PyObject *mon, *r, *name;
    size_t i;
    int tool = -1;
    if ((mon = get_monitoring()) == NULL)
        return -1;
    if (st->mon_tool >= 0 && check_tool(st, mon) < 0)
        goto fail;
    if (st->mon_tool >= 0) {
        Py_DECREF(mon);
        return 0;
    }
    for (i = 0; i < sizeof(tool_candidates) / sizeof(tool_candidates[0]); i++) {
        r = PyObject_CallMethod(mon, "get_tool", "i", tool_candidates[i]);
        if (r == NULL)
            goto fail;
        if (r == Py_None)
            tool = tool_candidates[i];
        Py_DECREF(r);
        if (tool >= 0)
            break;
    }
    if (tool < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "run(timeout) needs a free sys.monitoring tool id "
                        "(4, 3 and 5 are all in use)");
        goto fail;
    }
    name = PyUnicode_FromString("stackless");
    if (name == NULL)
        goto fail;
    r = PyObject_CallMethod(mon, "use_tool_id", "iO", tool, name);
    Py_DECREF(name);
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    r = PyObject_CallMethod(mon, "register_callback", "iiO", tool, SLP_EV_INSTRUCTION,
                            st->mon_tick);
    if (r == NULL) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        r = PyObject_CallMethod(mon, "free_tool_id", "i", tool);
        Py_XDECREF(r);
        PyErr_Clear();
        PyErr_Restore(et, ev, etb);
        goto fail;
    }
    Py_DECREF(r);
    st->mon_tool = tool;
    Py_DECREF(mon);
    return 0;
fail:
    Py_DECREF(mon);
    return -1;
}

static int
set_global_events(slp_state *st, int events)
{
    PyObject *mon = get_monitoring(), *r;
    if (mon == NULL)
        return -1;
    r = PyObject_CallMethod(mon, "set_events", "ii", st->mon_tool, events);
    Py_DECREF(mon);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Make CPython (re)instrument `code` now for the current events of every
 * tool: set_local_events() with a change forces _Py_Instrument() on it. */
static int
reinstrument_code(PyObject *set_local, int tool, PyObject *code)
{
    PyObject *args[3], *r;
    args[0] = PyLong_FromLong(tool);
    args[1] = code;
    args[2] = PyLong_FromLong(SLP_EV_INSTRUCTION);
    if (args[0] == NULL || args[2] == NULL)
        goto fail;
    r = PyObject_Vectorcall(set_local, args, 3, NULL);
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    Py_SETREF(args[2], PyLong_FromLong(0));
    if (args[2] == NULL)
        goto fail;
    r = PyObject_Vectorcall(set_local, args, 3, NULL);
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    Py_DECREF(args[0]);
    Py_DECREF(args[2]);
    return 0;
fail:
    Py_XDECREF(args[0]);
    Py_XDECREF(args[2]);
    return -1;
}

/* Re-instrument the code of every frame from `frame` (borrowed) down,
 * skipping code objects already done in this epoch (th->mon_seen). */
static int
reinstrument_chain(SlpThread *th, PyFrameObject *frame)
{
    slp_state *st = th->st;
    PyObject *mon, *set_local;
    int fail = 0;
    if (frame == NULL || st->mon_tool < 0)
        return 0;
    if (th->mon_seen == NULL && (th->mon_seen = PyDict_New()) == NULL)
        return -1;
    if ((mon = get_monitoring()) == NULL)
        return -1;
    set_local = PyObject_GetAttrString(mon, "set_local_events");
    Py_DECREF(mon);
    if (set_local == NULL)
        return -1;
    Py_INCREF(frame);
    while (frame != NULL && !fail) {
        PyObject *code = (PyObject *)PyFrame_GetCode(frame);
        PyObject *key = PyLong_FromVoidPtr(code);
        PyFrameObject *back;
        int seen = key == NULL ? -1 : PyDict_Contains(th->mon_seen, key);
        if (seen < 0 || (!seen && (PyDict_SetItem(th->mon_seen, key, code) < 0 ||
                                   reinstrument_code(set_local, st->mon_tool, code) < 0)))
            fail = 1;
        Py_XDECREF(key);
        Py_DECREF(code);
        back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    Py_DECREF(set_local);
    return fail ? -1 : 0;
}

static void events_off(slp_state *st);

/* The tick counter: the sys.monitoring INSTRUCTION callback, (code, offset).
 * Outside a timed run it only counts down the events' linger time (see
 * preempt_release). */
static PyObject *
mon_tick(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    SlpThread *th = slp_thread_current();
    slp_state *st;
    (void)args;
    (void)nargs;
    if (SLP_LIKELY(th != NULL && th->interval > 0)) {
        if (++th->tick_counter >= th->tick_watermark && interrupt_timeout(th) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    st = slp_get_state(module);
    if (st != NULL && st->mon_users == 0 && --st->mon_linger <= 0)
        events_off(st);
    Py_RETURN_NONE;
}

static PyMethodDef mon_tick_def = {"_tick", (PyCFunction)(void (*)(void))mon_tick,
                                   METH_FASTCALL, NULL};

int
slp_preempt_init(PyObject *module, slp_state *st)
{
    st->mon_tool = -1;
    st->mon_users = 0;
    st->mon_on = 0;
    st->mon_linger = 0;
    st->mon_tick = PyCFunction_NewEx(&mon_tick_def, module, NULL);
    return st->mon_tick == NULL ? -1 : 0;
}

/* Our events were switched on or off: every started tasklet that resumes
 * from now on has the code of its frames brought up to date once
 * (slp_preempt_resumed_slow).  set_events() itself took care of the frames on
 * every thread's current frame chain, i.e. of each thread's current tasklet. */
static void
new_epoch(slp_state *st)
{
    SlpThread *p;
    for (p = st->threads; p != NULL; p = p->reg_next) {
        if (!p->alive)
            continue;
        p->preempt_epoch++;
        if (p->current != NULL)
            p->current->preempt_epoch = p->preempt_epoch;
        if (p->mon_seen != NULL)
            PyDict_Clear(p->mon_seen);
    }
}

static void
events_off(slp_state *st)
{
    PyObject *et, *ev, *etb;
    if (!st->mon_on)
        return;
    PyErr_Fetch(&et, &ev, &etb);
    if (set_global_events(st, 0) < 0)
        PyErr_WriteUnraisable(NULL);
    else {
        st->mon_on = 0;
        new_epoch(st);
    }
    PyErr_Restore(et, ev, etb);
}

int
slp_preempt_start(SlpThread *th)
{
    slp_state *st = th->st;
    if (th->preempt_active)
        return 0;
    if (claim_tool(st) < 0)
        return -1;
    if (!st->mon_on) {
        if (set_global_events(st, SLP_EV_INSTRUCTION) < 0)
            return -1;
        st->mon_on = 1;
        new_epoch(st);
    }
    st->mon_users++;
    th->preempt_active = 1;
    /* the events were already on: the running tasklet may not have resumed
     * since they were switched on */
    if (th->current->preempt_epoch != th->preempt_epoch) {
        th->current->preempt_epoch = th->preempt_epoch;
        if (reinstrument_chain(th, PyEval_GetFrame()) < 0)
            PyErr_WriteUnraisable(NULL);
    }
    return 0;
}

/*
 * The end of a thread's timed run.  The last one of the process leaves the
 * events on for SLP_MON_LINGER more instructions outside timed runs (counted
 * by mon_tick): switching them costs a pass over the instructions of every
 * code object on a frame chain or run afterwards, twice per run(), and the
 * idiom of scheduler.rst calls run(timeout) in a loop, with a few
 * instructions in between.  A lingering instruction costs one call of
 * mon_tick (~250 machine instructions): 1,000 of them cost about what one
 * on/off switch of a small program does (benchmarks/bench_preempt.py,
 * "cold").  Then events_off(): set_events() takes our instrumentation off
 * the code of the frames on every thread's frame chain; a suspended tasklet
 * has it taken off its code when it resumes (new epoch), so that no tasklet
 * keeps paying for it.  The tool id stays ours: another tool taking it could
 * receive our leftover events.
 */
static void
preempt_release(SlpThread *th)
{
    slp_state *st = th->st;
    if (!th->preempt_active)
        return;
    th->preempt_active = 0;
    if (--st->mon_users == 0)
        st->mon_linger = SLP_MON_LINGER;
}

void
slp_preempt_stop(SlpThread *th)
{
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    preempt_release(th);
    PyErr_Restore(et, ev, etb);
}

void
slp_preempt_thread_gone(SlpThread *th)
{
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    preempt_release(th);
    Py_CLEAR(th->mon_seen);
    PyErr_Restore(et, ev, etb);
}

/* A switch has just resumed `t` (the running tasklet again) and
 * slp_preempt_resumed() found work to do. */
void
slp_preempt_resumed_slow(SlpThread *th, Tasklet *t)
{
    PyThreadState *ts = th->tstate;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    if (th->retrace) {
        /* switch_tracing installed t's trace/profile function before the
         * switch, from the previous tasklet's frames: CPython re-instrumented
         * those.  Setting it again from here instruments t's frames. */
        th->retrace = 0;
        if (ts->c_tracefunc != NULL) {
            Py_tracefunc f = ts->c_tracefunc;
            PyObject *o = ts->c_traceobj;
            Py_XINCREF(o);
            PyEval_SetTrace(NULL, NULL);
            PyEval_SetTrace(f, o);
            Py_XDECREF(o);
        }
        if (ts->c_profilefunc != NULL) {
            Py_tracefunc f = ts->c_profilefunc;
            PyObject *o = ts->c_profileobj;
            Py_XINCREF(o);
            PyEval_SetProfile(NULL, NULL);
            PyEval_SetProfile(f, o);
            Py_XDECREF(o);
        }
    }
    if (t->preempt_epoch != th->preempt_epoch) {
        t->preempt_epoch = th->preempt_epoch;
        if (reinstrument_chain(th, PyEval_GetFrame()) < 0)
            PyErr_WriteUnraisable(NULL);
    }
    PyErr_Restore(et, ev, etb);
}

/* sys.settrace needs no help here: it is a separate sys.monitoring tool */
void
slp_retrace(SlpThread *th)
{
    (void)th;
}
#endif /* SLP_MONITORING */
