/*
 * module.c -- the _stackless module glue.
 *
 * Owns: the module state (heap types, TaskletExit, callbacks, the thread
 * registry), the module-level functions (getcurrent, schedule, run, ...),
 * the `atomic` context manager, module exec and PyInit.
 *
 * One module instance per process is supported: the scheduler state of a
 * thread (scheduler.c) belongs to the instance that created it.
 */
#include "stackless_impl.h"
#ifndef MS_WINDOWS
#  include <fcntl.h>           /* set_wakeup_fd: O_NONBLOCK check */
#endif

slp_state *
slp_get_state(PyObject *module)
{
    return (slp_state *)PyModule_GetState(module);
}

slp_state *
slp_state_from_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &slp_module_def);
    if (m == NULL)
        return NULL;
    return slp_get_state(m);
}

int
slp_is_tasklet(slp_state *st, PyObject *o)
{
    return Py_TYPE(o) == st->tasklet_type || PyObject_TypeCheck(o, st->tasklet_type);
}

int
slp_is_bomb_slow(slp_state *st, PyObject *o)
{
    return PyObject_TypeCheck(o, st->bomb_type);
}

static inline SlpThread *
thread_of(PyObject *module)
{
    SlpThread *th = slp_thread_current();
    if (SLP_LIKELY(th != NULL))
        return th;
    return slp_thread_get(slp_get_state(module));
}

/* ------------------------------------------------------------------ */
/* atomic                                                               */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    int old;
} Atomic;

static PyObject *
atomic_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = slp_thread_current();
    if (th != NULL && th->current != NULL) {
        ((Atomic *)self)->old = (th->current->flags & TF_ATOMIC) != 0;
        th->current->flags |= TF_ATOMIC;
    }
    Py_RETURN_NONE;
}

static PyObject *
atomic_exit(PyObject *self, PyObject *Py_UNUSED(args))
{
    SlpThread *th = slp_thread_current();
    if (th != NULL && th->current != NULL) {
        if (((Atomic *)self)->old)
            th->current->flags |= TF_ATOMIC;
        else
            th->current->flags &= ~TF_ATOMIC;
    }
    Py_RETURN_NONE;
}

static void
atomic_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef atomic_methods[] = {
    {"__enter__", atomic_enter, METH_NOARGS, NULL},
    {"__exit__", atomic_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

PyDoc_STRVAR(atomic_doc,
"atomic()\n\nA context manager that sets the atomic flag of the current tasklet\n"
"for its duration (and restores the previous value).");

static PyType_Slot atomic_slots[] = {
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, atomic_dealloc},
    {Py_tp_methods, atomic_methods},
    {Py_tp_doc, (void *)atomic_doc},
    {0, NULL}
};

static PyType_Spec atomic_spec = {
    .name = "stackless.atomic",
    .basicsize = sizeof(Atomic),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = atomic_slots,
};

/* ------------------------------------------------------------------ */
/* Module functions                                                     */
/* ------------------------------------------------------------------ */

PyDoc_STRVAR(getcurrent_doc, "getcurrent() -- return the currently executing tasklet.");

static PyObject *
m_getcurrent(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = thread_of(module);
    PyObject *t;
    if (th == NULL)
        return NULL;
    t = (PyObject *)slp_visible_current(th);
    if (t == NULL)
        t = (PyObject *)th->main;
    Py_INCREF(t);
    return t;
}

PyDoc_STRVAR(getmain_doc, "getmain() -- return the main tasklet of this thread.");

static PyObject *
m_getmain(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = thread_of(module);
    if (th == NULL)
        return NULL;
    Py_INCREF(th->main);
    return (PyObject *)th->main;
}

PyDoc_STRVAR(getruncount_doc,
"getruncount() -- return the number of runnable tasklets (the current one included).");

static PyObject *
m_getruncount(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = thread_of(module);
    if (th == NULL)
        return NULL;
    return PyLong_FromSsize_t(th->runcount);
}

PyDoc_STRVAR(set_wakeup_fd_doc,
"set_wakeup_fd(fd) -> previous fd\n\n"
"Set this thread's wake-up fd (-1 = none, the default; -1 clears it), like\n"
"signal.set_wakeup_fd.  Whenever code in another thread makes a tasklet of\n"
"this thread runnable, the 8 bytes of a native uint64 1 are written to fd\n"
"(an eventfd, or the write end of a pipe) after the tasklet is queued, so a\n"
"thread sleeping in select/epoll wakes up.  fd must be in non-blocking mode;\n"
"write errors are ignored.  The fd stays the caller's: it is never closed here.");

static PyObject *
m_set_wakeup_fd(PyObject *module, PyObject *arg)
{
    SlpThread *th;
    long fd;
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "set_wakeup_fd() argument must be int, not %.200s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();
        fd = -2;                    /* reported as invalid below */
    }
    if (fd < -1 || fd > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "invalid fd: %R", arg);
        return NULL;
    }
#ifndef MS_WINDOWS
    if (fd >= 0) {
        int fl = fcntl((int)fd, F_GETFL);
        if (fl == -1) {
            PyErr_Format(PyExc_ValueError, "invalid fd: %ld", fd);
            return NULL;
        }
        if (!(fl & O_NONBLOCK)) {
            PyErr_Format(PyExc_ValueError, "the fd %ld must be in non-blocking mode", fd);
            return NULL;
        }
    }
#endif
    th = thread_of(module);
    if (th == NULL)
        return NULL;
    return PyLong_FromLong(slp_thread_set_wakeup_fd(th, (int)fd));
}

PyDoc_STRVAR(getcurrentid_doc,
"getcurrentid() -- return the id of the current tasklet (the thread id for main).");

static PyObject *
m_getcurrentid(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = thread_of(module);
    Tasklet *cur;
    uintptr_t p;
    if (th == NULL)
        return NULL;
    cur = slp_visible_current(th);
    if (cur == th->main || cur == NULL)
        return PyLong_FromUnsignedLong(th->thread_id);
    p = (uintptr_t)cur;
#if SIZEOF_VOID_P > SIZEOF_LONG
    return PyLong_FromUnsignedLong((unsigned long)p ^ (unsigned long)(p >> 32));
#else
    return PyLong_FromUnsignedLong((unsigned long)p);
#endif
}

PyDoc_STRVAR(schedule_doc,
"schedule(retval=stackless.current) -- switch to the next runnable tasklet.\n"
"Returns retval when this tasklet runs again.");

/* the one optional argument `retval` of schedule() / schedule_remove() */
static int
parse_retval(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
             PyObject **retval)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fname, nargs + nkw);
        return -1;
    }
    if (nkw == 1) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, 0);
        if (PyUnicode_CompareWithASCIIString(key, "retval") != 0) {
            PyErr_Format(PyExc_TypeError, "'%U' is an invalid keyword argument for %s()", key, fname);
            return -1;
        }
    }
    if (nargs + nkw == 1)
        *retval = args[0];
    return 0;
}

static PyObject *
m_schedule(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    SlpThread *th = thread_of(module);
    PyObject *retval;
    if (th == NULL)
        return NULL;
    retval = (PyObject *)th->current;
    if ((nargs || kwnames) && parse_retval("schedule", args, nargs, kwnames, &retval) < 0)
        return NULL;
    return slp_schedule(th, retval, 0);
}

PyDoc_STRVAR(schedule_remove_doc,
"schedule_remove(retval=stackless.current) -- like schedule(), and remove\n"
"the current tasklet from the run queue.");

static PyObject *
m_schedule_remove(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    SlpThread *th = thread_of(module);
    PyObject *retval;
    if (th == NULL)
        return NULL;
    retval = (PyObject *)th->current;
    if ((nargs || kwnames) && parse_retval("schedule_remove", args, nargs, kwnames, &retval) < 0)
        return NULL;
    return slp_schedule(th, retval, 1);
}

PyDoc_STRVAR(run_doc,
"run(timeout=0, threadblock=False, soft=False, ignore_nesting=False, totaltimeout=False)\n\n"
"Run the scheduler until no other tasklet is runnable.  The caller becomes a\n"
"watchdog (calls can nest).  With timeout > 0 (in ticks: one tick is one\n"
"bytecode instruction of Python code), a tasklet that runs\n"
"longer than its slice is interrupted, removed from the run queue and\n"
"returned.  threadblock: wait for tasklets woken by other threads.  soft:\n"
"only return at the next switch.  totaltimeout: the timeout is for the whole\n"
"run() rather than per tasklet.");

static PyObject *
m_run(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timeout", "threadblock", "soft", "ignore_nesting", "totaltimeout", NULL};
    long timeout = 0;
    int threadblock = 0, soft = 0, ignore_nesting = 0, totaltimeout = 0;
    uint32_t flags = 0;
    SlpThread *th;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|liiii:run", kwlist, &timeout, &threadblock,
                                     &soft, &ignore_nesting, &totaltimeout))
        return NULL;
    th = thread_of(module);
    if (th == NULL)
        return NULL;
    if (threadblock) flags |= RF_THREADBLOCK;
    if (soft) flags |= RF_SOFT;
    if (ignore_nesting) flags |= RF_IGNORE_NESTING;
    if (totaltimeout) flags |= RF_TOTALTIMEOUT;
    return slp_run_watchdog(th, timeout, flags);
}

PyDoc_STRVAR(get_thread_info_doc,
"get_thread_info(thread_id=-1) -- return (main, current, runcount) of a thread.");

static PyObject *
m_get_thread_info(PyObject *module, PyObject *args)
{
    return slp_get_thread_info(slp_get_state(module), args);
}

PyDoc_STRVAR(getthreads_doc, "getthreads() -- list the thread ids, the main thread first.");

static PyObject *
m_getthreads(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return slp_getthreads(slp_get_state(module));
}

PyDoc_STRVAR(switch_trap_doc,
"switch_trap(change) -- add change to the switch trap level of this thread\n"
"and return the old level.  While it is > 0 any tasklet switch raises\n"
"RuntimeError('switch_trap').");

static PyObject *
m_switch_trap(PyObject *module, PyObject *args)
{
    int change = 0, old;
    SlpThread *th;
    if (!PyArg_ParseTuple(args, "|i:switch_trap", &change))
        return NULL;
    th = thread_of(module);
    if (th == NULL)
        return NULL;
    old = th->switch_trap;
    th->switch_trap += change;
    return PyLong_FromLong(old);
}

static PyObject *
swap_hook(PyObject **slot, PyObject *cb, const char *msg)
{
    PyObject *old = *slot;
    if (cb == Py_None)
        cb = NULL;
    if (cb != NULL && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, msg);
        return NULL;
    }
    Py_XINCREF(cb);
    *slot = cb;
    if (old == NULL) {
        Py_INCREF(Py_None);
        old = Py_None;
    }
    return old;
}

PyDoc_STRVAR(set_schedule_callback_doc,
"set_schedule_callback(callable) -- call callable(prev, next) at every switch;\n"
"returns the previous callback.  None removes it.");

static PyObject *
m_set_schedule_callback(PyObject *module, PyObject *cb)
{
    return swap_hook(&slp_get_state(module)->schedule_hook, cb, "schedule callback must be callable");
}

static PyObject *
get_hook(PyObject *o)
{
    if (o == NULL)
        o = Py_None;
    Py_INCREF(o);
    return o;
}

static PyObject *
m_get_schedule_callback(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return get_hook(slp_get_state(module)->schedule_hook);
}

PyDoc_STRVAR(set_channel_callback_doc,
"set_channel_callback(callable) -- call callable(channel, tasklet, sending,\n"
"willblock) at every channel action; returns the previous callback.");

static PyObject *
m_set_channel_callback(PyObject *module, PyObject *cb)
{
    return swap_hook(&slp_get_state(module)->channel_hook, cb, "channel callback must be callable");
}

static PyObject *
m_get_channel_callback(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return get_hook(slp_get_state(module)->channel_hook);
}

PyDoc_STRVAR(set_error_handler_doc,
"set_error_handler(handler) -- handler(type, value, tb) runs in a tasklet\n"
"that dies of an uncaught exception; None restores the default (re-raise in\n"
"the main tasklet).  Returns the previous handler.");

static PyObject *
m_set_error_handler(PyObject *module, PyObject *args)
{
    PyObject *h = Py_None;
    if (!PyArg_ParseTuple(args, "|O:set_error_handler", &h))
        return NULL;
    return swap_hook(&slp_get_state(module)->error_handler, h, "error handler must be callable");
}

PyDoc_STRVAR(enable_softswitch_doc,
"enable_softswitch(flag) -- soft switching needs interpreter support that\n"
"stock CPython lacks: every switch here is a hard switch.  Always returns\n"
"False (the setting before and after the call); flag None only queries.");

static PyObject *
m_enable_softswitch(PyObject *module, PyObject *flag)
{
    (void)module;
    if (flag != Py_None && PyObject_IsTrue(flag) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

#define PICKLEFLAGS_MAX 15

static PyObject *
pickle_flags_impl(int *slot, PyObject *args, PyObject *kwds, const char *fmt, char **kwlist)
{
    long newv = -1, mask = -1;
    int old = *slot;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &newv, &mask))
        return NULL;
    if (newv < -1 || (newv & mask) > PICKLEFLAGS_MAX) {
        PyErr_SetString(PyExc_ValueError, "you must not set an undefined pickle-flag");
        return NULL;
    }
    if (newv != -1)
        *slot = (int)((old & ~mask) | (newv & mask));
    return PyLong_FromLong(old);
}

PyDoc_STRVAR(pickle_flags_doc,
"pickle_flags(new_flags=-1, mask=-1) -- get and set this thread's pickle flags.");

static PyObject *
m_pickle_flags(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"new_flags", "mask", NULL};
    SlpThread *th = thread_of(module);
    if (th == NULL)
        return NULL;
    return pickle_flags_impl(&th->pickleflags, args, kwds, "|ll:pickle_flags", kwlist);
}

PyDoc_STRVAR(pickle_flags_default_doc,
"pickle_flags_default(new_default=-1, mask=-1) -- get and set the default pickle flags.");

static PyObject *
m_pickle_flags_default(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"new_default", "mask", NULL};
    return pickle_flags_impl(&slp_get_state(module)->pickleflags_default, args, kwds,
                             "|ll:pickle_flags_default", kwlist);
}

static PyObject *
m_getdebug(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    Py_RETURN_FALSE;
}

static PyObject *
m_getuncollectables(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyList_New(0);
}

static PyObject *
m_worker(PyObject *module, PyObject *args)
{
    return slp_worker_run(module, args);
}

static PyObject *
m_spawner(PyObject *module, PyObject *args)
{
    return slp_spawner_run(module, args);
}

/* atexit: kill the started tasklets of the main thread while the interpreter
 * is intact (as Stackless does at exit); from then on never switch again. */
static PyObject *
m_at_exit(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    slp_state *st = slp_get_state(module);
    SlpThread *th = slp_thread_current();
    if (th != NULL && th->st == st && !st->finalizing && th->current == th->main)
        slp_kill_started(th);
    st->finalizing = 1;
    Py_RETURN_NONE;
}

static PyObject *
m_retrace(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = slp_thread_current();
    (void)module;
    if (th != NULL)
        slp_retrace(th);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"_retrace", m_retrace, METH_NOARGS, NULL},
    {"getcurrent", m_getcurrent, METH_NOARGS, getcurrent_doc},
    {"getmain", m_getmain, METH_NOARGS, getmain_doc},
    {"getruncount", m_getruncount, METH_NOARGS, getruncount_doc},
    {"getcurrentid", m_getcurrentid, METH_NOARGS, getcurrentid_doc},
    {"schedule", (PyCFunction)(void (*)(void))m_schedule, METH_FASTCALL | METH_KEYWORDS, schedule_doc},
    {"schedule_remove", (PyCFunction)(void (*)(void))m_schedule_remove, METH_FASTCALL | METH_KEYWORDS,
     schedule_remove_doc},
    {"run", (PyCFunction)(void (*)(void))m_run, METH_VARARGS | METH_KEYWORDS, run_doc},
    {"get_thread_info", m_get_thread_info, METH_VARARGS, get_thread_info_doc},
    {"getthreads", m_getthreads, METH_NOARGS, getthreads_doc},
    {"switch_trap", m_switch_trap, METH_VARARGS, switch_trap_doc},
    {"set_schedule_callback", m_set_schedule_callback, METH_O, set_schedule_callback_doc},
    {"set_wakeup_fd", m_set_wakeup_fd, METH_O, set_wakeup_fd_doc},
    {"get_schedule_callback", m_get_schedule_callback, METH_NOARGS, NULL},
    {"set_channel_callback", m_set_channel_callback, METH_O, set_channel_callback_doc},
    {"get_channel_callback", m_get_channel_callback, METH_NOARGS, NULL},
    {"set_error_handler", m_set_error_handler, METH_VARARGS, set_error_handler_doc},
    {"enable_softswitch", m_enable_softswitch, METH_O, enable_softswitch_doc},
    {"pickle_flags", (PyCFunction)(void (*)(void))m_pickle_flags, METH_VARARGS | METH_KEYWORDS,
     pickle_flags_doc},
    {"pickle_flags_default", (PyCFunction)(void (*)(void))m_pickle_flags_default,
     METH_VARARGS | METH_KEYWORDS, pickle_flags_default_doc},
    {"getdebug", m_getdebug, METH_NOARGS, NULL},
    {"getuncollectables", m_getuncollectables, METH_NOARGS, NULL},
    {"_at_exit", m_at_exit, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

/* the bodies of the greenlets (switch.c); not in the module namespace */
static PyMethodDef worker_def = {"_worker", m_worker, METH_VARARGS, NULL};
static PyMethodDef spawner_def = {"_spawner", m_spawner, METH_VARARGS, NULL};

/* ------------------------------------------------------------------ */
/* Module state                                                         */
/* ------------------------------------------------------------------ */

/*
 * Free-threaded CPython (3.13t, 3.14t): the core relies on the GIL (see
 * stackless_impl.h), so the module does not declare Py_mod_gil; CPython then
 * turns the GIL back on when it is imported, with a RuntimeWarning.  If the
 * user forced it off (PYTHON_GIL=0 or -X gil=0), refuse to load.  Checked at
 * run time through sys._is_gil_enabled() (3.13+), which is also what lets a
 * test on a regular build exercise it.
 */
static int
check_gil(void)
{
    PyObject *f = PySys_GetObject("_is_gil_enabled"), *r;   /* borrowed */
    int enabled;
    if (f == NULL)
        return 0;       /* before 3.13: there is always a GIL */
    r = PyObject_CallNoArgs(f);
    if (r == NULL)
        return -1;
    enabled = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (enabled < 0)
        return -1;
    if (!enabled) {
        PyErr_SetString(PyExc_ImportError,
                        "stackless needs the GIL, and this free-threaded interpreter runs "
                        "with it disabled (PYTHON_GIL=0 or -X gil=0): run without forcing "
                        "it off");
        return -1;
    }
    return 0;
}

static int
module_exec(PyObject *m)
{
    slp_state *st = slp_get_state(m);
    PyObject *threading, *mt, *ident, *builtins;

    if (check_gil() < 0)
        return -1;
    st->module = m;
    if (slp_greenlet_import() < 0)
        return -1;
    st->tasklet_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &slp_tasklet_spec, NULL);
    st->channel_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &slp_channel_spec, NULL);
    st->bomb_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &slp_bomb_spec, NULL);
    st->atomic_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &atomic_spec, NULL);
    if (!st->tasklet_type || !st->channel_type || !st->bomb_type || !st->atomic_type)
        return -1;
    if (slp_init_scheduler_types(m, st) < 0)
        return -1;
    st->TaskletExit = PyErr_NewExceptionWithDoc(
        "builtins.TaskletExit",
        "Raised in a tasklet to end it (tasklet.kill()); an uncaught TaskletExit\n"
        "ends its tasklet silently.",
        PyExc_SystemExit, NULL);
    if (st->TaskletExit == NULL)
        return -1;
    st->worker_func = PyCFunction_NewEx(&worker_def, m, NULL);
    st->spawner_func = PyCFunction_NewEx(&spawner_def, m, NULL);
    st->guard_key = PyUnicode_FromString("__stackless_thread_guard__");
    st->str_f_trace_opcodes = PyUnicode_InternFromString("f_trace_opcodes");
    if (st->str_f_trace_opcodes == NULL)
        return -1;
    if (!st->worker_func || !st->spawner_func || !st->guard_key)
        return -1;
    st->pickleflags_default = 0;

    threading = PyImport_ImportModule("threading");
    if (threading == NULL)
        return -1;
    mt = PyObject_CallMethod(threading, "main_thread", NULL);
    Py_DECREF(threading);
    if (mt == NULL)
        return -1;
    ident = PyObject_GetAttrString(mt, "ident");
    Py_DECREF(mt);
    if (ident == NULL)
        return -1;
    st->main_thread_id = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    if (PyErr_Occurred())
        return -1;

    if (PyModule_AddObjectRef(m, "tasklet", (PyObject *)st->tasklet_type) < 0 ||
        PyModule_AddObjectRef(m, "channel", (PyObject *)st->channel_type) < 0 ||
        PyModule_AddObjectRef(m, "bomb", (PyObject *)st->bomb_type) < 0 ||
        PyModule_AddObjectRef(m, "atomic", (PyObject *)st->atomic_type) < 0 ||
        PyModule_AddObjectRef(m, "TaskletExit", st->TaskletExit) < 0)
        return -1;
    if (PyModule_AddIntConstant(m, "PICKLEFLAGS_PRESERVE_TRACING_STATE", 1) < 0 ||
        PyModule_AddIntConstant(m, "PICKLEFLAGS_PRESERVE_AG_FINALIZER", 2) < 0 ||
        PyModule_AddIntConstant(m, "PICKLEFLAGS_RESET_AG_FINALIZER", 4) < 0 ||
        PyModule_AddIntConstant(m, "PICKLEFLAGS_PICKLE_CONTEXT", 8) < 0)
        return -1;
    /* Stackless code uses the bare name TaskletExit */
    builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL)
        return -1;
    if (PyObject_SetAttrString(builtins, "TaskletExit", st->TaskletExit) < 0) {
        Py_DECREF(builtins);
        return -1;
    }
    Py_DECREF(builtins);
    if (slp_arena_install(m) < 0)   /* arena.c: reuse of 16 KiB frame-stack blocks */
        return -1;
    if (slp_preempt_init(m, st) < 0)   /* preempt.c: the run(timeout) tick counter */
        return -1;
    return 0;
}

static int
module_traverse(PyObject *m, visitproc visit, void *arg)
{
    slp_state *st = slp_get_state(m);
    if (st == NULL)
        return 0;
    Py_VISIT(st->tasklet_type);
    Py_VISIT(st->channel_type);
    Py_VISIT(st->bomb_type);
    Py_VISIT(st->atomic_type);
    Py_VISIT(st->guard_type);
    Py_VISIT(st->TaskletExit);
    Py_VISIT(st->worker_func);
    Py_VISIT(st->spawner_func);
    Py_VISIT(st->schedule_hook);
    Py_VISIT(st->channel_hook);
    Py_VISIT(st->error_handler);
    Py_VISIT(st->graveyard);
    Py_VISIT(st->mon_tick);
    Py_VISIT(st->mon_get_tool);
    Py_VISIT(st->mon_get_events);
    return 0;
}

static int
module_clear(PyObject *m)
{
    slp_state *st = slp_get_state(m);
    if (st == NULL)
        return 0;
    Py_CLEAR(st->schedule_hook);
    Py_CLEAR(st->channel_hook);
    Py_CLEAR(st->error_handler);
    return 0;
}

static void
module_free(void *m)
{
    slp_state *st = slp_get_state((PyObject *)m);
    if (st == NULL)
        return;
    module_clear((PyObject *)m);
    /* At interpreter exit the graveyard is leaked on purpose: releasing it
     * could make greenlet run code of threads that are gone. */
    if (!st->finalizing && !Py_IsInitialized())
        st->finalizing = 1;
    if (!st->finalizing)
        Py_CLEAR(st->graveyard);
    Py_CLEAR(st->tasklet_type);
    Py_CLEAR(st->channel_type);
    Py_CLEAR(st->bomb_type);
    Py_CLEAR(st->atomic_type);
    Py_CLEAR(st->guard_type);
    Py_CLEAR(st->TaskletExit);
    Py_CLEAR(st->worker_func);
    Py_CLEAR(st->spawner_func);
    Py_CLEAR(st->guard_key);
    Py_CLEAR(st->str_f_trace_opcodes);
    Py_CLEAR(st->mon_tick);
    Py_CLEAR(st->mon_get_tool);
    Py_CLEAR(st->mon_get_events);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL}
};

PyDoc_STRVAR(module_doc,
"The C core of stackless: tasklets, channels and the scheduler on greenlet.");

struct PyModuleDef slp_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_stackless",
    .m_doc = module_doc,
    .m_size = sizeof(slp_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__stackless(void)
{
    return PyModuleDef_Init(&slp_module_def);
}
