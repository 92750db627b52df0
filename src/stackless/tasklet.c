/*
 * tasklet.c -- the tasklet type.
 *
 * Owns: stackless.tasklet: binding, setup, the run-queue methods (insert,
 * remove, run, switch), throw / raise_exception / kill, the state attributes,
 * contexts, pickling, GC support and the finalizer that kills a forgotten
 * started tasklet.
 *
 * A tasklet's function runs on a worker greenlet (switch.c), created lazily
 * in the thread where the tasklet first runs: an unstarted tasklet is just
 * this small object plus its callable and arguments.
 */
#include "stackless_impl.h"

static inline SlpThread *
thread_for(PyObject *self)
{
    SlpThread *th = slp_thread_current();
    if (SLP_LIKELY(th != NULL))
        return th;
    return slp_thread_get(slp_state_from_type(Py_TYPE(self)));
}

static inline int
is_current(Tasklet *t)
{
    return t->thread != NULL && t->thread->alive && t->thread->current == t;
}

/* started and not finished: it owns a C stack (a suspended greenlet) */
static inline int
has_cstate(Tasklet *t)
{
    return t->greenlet != NULL && !is_current(t);
}

static int
tasklet_bind_impl(Tasklet *t, PyObject *func, PyObject *args, PyObject *kwargs);

/* ------------------------------------------------------------------ */
/* Creation, GC                                                        */
/* ------------------------------------------------------------------ */

static PyObject *
tasklet_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    SlpThread *th = slp_thread_current();
    Tasklet *t;
    (void)args;
    (void)kwds;

    if (th == NULL) {
        th = slp_thread_get(slp_state_from_type(type));
        if (th == NULL)
            return NULL;
    }
    t = (Tasklet *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    Py_INCREF(Py_None);
    t->tempval = Py_None;
    t->thread = th;
    slp_thread_incref(th);
    /* The documented contract (set_atomic's docstring, the project's notes):
     * a new tasklet starts with its creator's atomic flag.  Stackless' own
     * tasklet_new clears every flag instead; we follow the documentation. */
    if (th->current != NULL && (th->current->flags & TF_ATOMIC))
        t->flags |= TF_ATOMIC;
    /* No contextvars.Context yet (Stackless 3.8 tasklet_new): binding a
     * callable (tasklet(func), bind(func)) gives it the creator's; a bare
     * tasklet() gets an empty one when first asked for (context_run,
     * context_id) or when it starts. */
    return (PyObject *)t;
}

/* tasklet(func=None, args=None, kwargs=None) */
static int
tasklet_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"func", "args", "kwargs", NULL};
    PyObject *func = Py_None, *fargs = Py_None, *fkwargs = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:tasklet", kwlist, &func, &fargs, &fkwargs))
        return -1;
    return tasklet_bind_impl((Tasklet *)self, func, fargs, fkwargs);
}

Tasklet *
slp_tasklet_new_main(slp_state *st, SlpThread *th, PyObject *greenlet)
{
    Tasklet *t = (Tasklet *)st->tasklet_type->tp_alloc(st->tasklet_type, 0);
    if (t == NULL)
        return NULL;
    Py_INCREF(Py_None);
    t->tempval = Py_None;
    t->thread = th;
    slp_thread_incref(th);
    Py_INCREF(greenlet);
    t->greenlet = greenlet;
    t->flags = TF_STARTED;
    return t;
}

static int
tasklet_traverse(Tasklet *t, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(t));
    Py_VISIT(t->tempval);
    if (!(t->flags & TF_LINKED)) {
        Py_VISIT(t->u.c.func);
        Py_VISIT(t->u.c.args);
    }
    Py_VISIT(t->context);
    Py_VISIT(t->greenlet);
    return 0;
}

static int
tasklet_clear(Tasklet *t)
{
    Py_CLEAR(t->tempval);
    if (!(t->flags & TF_LINKED)) {
        Py_CLEAR(t->u.c.func);
        Py_CLEAR(t->u.c.args);
    }
    Py_CLEAR(t->context);
    /* The greenlet is kept: dropping a suspended greenlet in its live thread
     * makes greenlet switch into it (GreenletExit), behind the scheduler's
     * back.  The finalizer has already tried to kill the tasklet. */
    return 0;
}

/*
 * A started tasklet that nobody references any more is killed (TaskletExit
 * raised in it, so its finally clauses run), as Stackless does.  In its own
 * thread that happens at once; for a tasklet of another thread the kill is
 * made pending there, which resurrects the object until it has died.
 */
static void
tasklet_finalize(PyObject *self)
{
    Tasklet *t = (Tasklet *)self;
    SlpThread *th, *cur;
    PyObject *et, *ev, *etb, *bomb, *r;
    slp_state *st;
    int i;

    if (t->greenlet == NULL || t->thread == NULL || !t->thread->alive || is_current(t))
        return;
    th = t->thread;
    st = th->st;
    if (st->finalizing || th->main == t)
        return;
    PyErr_Fetch(&et, &ev, &etb);
    cur = slp_thread_current();
    if (cur != NULL) {
        for (i = 0; i < 10 && t->greenlet != NULL && th->alive; i++) {
            bomb = slp_exc_to_bomb(st, st->TaskletExit, NULL, NULL);
            if (bomb == NULL) {
                PyErr_WriteUnraisable(self);
                break;
            }
            t->flags |= TF_ZOMBIE;
            r = slp_tasklet_throw_bomb(cur, t, cur != th, bomb);
            if (r == NULL) {
                PyErr_WriteUnraisable(self);
                break;
            }
            Py_DECREF(r);
            if (cur != th)
                break;   /* it dies in its own thread */
        }
    }
    PyErr_Restore(et, ev, etb);
}

static void
tasklet_dealloc(Tasklet *t)
{
    PyTypeObject *tp = Py_TYPE(t);
    if (t->greenlet != NULL && tp->tp_finalize != NULL) {
        if (PyObject_CallFinalizerFromDealloc((PyObject *)t) < 0)
            return;   /* resurrected */
    }
    PyObject_GC_UnTrack(t);
    if (t->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)t);
    if (t->flags & TF_TRACED)
        slp_trace_forget(t);
    if (t->flags & TF_LINKED)
        slp_started_unlink(t->thread, t);
    Py_CLEAR(t->tempval);
    Py_CLEAR(t->u.c.func);
    Py_CLEAR(t->u.c.args);
    Py_CLEAR(t->context);
    if (t->greenlet != NULL) {
        if (t->thread != NULL && t->thread->alive && t->thread->main != t)
            /* still suspended in a live thread (it refused to die, or we are
             * exiting): leak the greenlet rather than let greenlet switch
             * into it behind the scheduler's back */
            t->greenlet = NULL;
        else
            Py_CLEAR(t->greenlet);   /* finished, main, or its thread is gone */
    }
    if (t->thread != NULL) {
        SlpThread *th = t->thread;
        t->thread = NULL;
        slp_thread_decref(th);
    }
    tp->tp_free((PyObject *)t);
    Py_DECREF(tp);
}

/* ------------------------------------------------------------------ */
/* bind / setup                                                         */
/* ------------------------------------------------------------------ */

static void
clear_frames(Tasklet *t)
{
    if (t->flags & TF_LINKED)
        slp_started_unlink(t->thread, t);
    Py_CLEAR(t->u.c.func);
    Py_CLEAR(t->u.c.args);
    t->flags &= ~(TF_KWARGS | TF_STARTED);
}

/* set up the call; tempval holds the callable.  insert: make it runnable. */
static int
tasklet_setup_impl(Tasklet *t, PyObject *args, PyObject *kwargs, int insert)
{
    SlpThread *th = t->thread;
    PyObject *func = t->tempval, *a;

    if (func == NULL || func == Py_None)
        RUNTIME_ERROR("the tasklet was not bound to a function", -1);
    if (th == NULL || !th->alive)
        RUNTIME_ERROR("tasklet has no thread", -1);
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        a = PyTuple_Pack(2, args, kwargs);
        if (a == NULL)
            return -1;
        t->flags |= TF_KWARGS;
    }
    else {
        Py_INCREF(args);
        a = args;
        t->flags &= ~TF_KWARGS;
    }
    t->u.c.args = a;
    t->u.c.func = func;            /* the reference moves from tempval */
    Py_INCREF(Py_None);
    t->tempval = Py_None;
    t->flags &= ~TF_STARTED;
    if (insert) {
        Py_INCREF(t);
        slp_rq_insert(th, t);
        if (th != slp_thread_current())
            slp_thread_unblock(th);
    }
    return 0;
}

static int
tasklet_bind_impl(Tasklet *t, PyObject *func, PyObject *args, PyObject *kwargs)
{
    if (func == Py_None)
        func = NULL;
    if (args == Py_None)
        args = NULL;
    if (kwargs == Py_None)
        kwargs = NULL;
    if (func != NULL && !PyCallable_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "tasklet function must be a callable or None");
        return -1;
    }
    if (args != NULL && !PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "tasklet args must be a tuple or None");
        return -1;
    }
    if (kwargs != NULL && !PyDict_Check(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "tasklet kwargs must be a dictionary or None");
        return -1;
    }
    if (is_current(t))
        RUNTIME_ERROR("can't (re)bind the current tasklet", -1);
    if (t->next != NULL)
        RUNTIME_ERROR("tasklet is scheduled", -1);
    if (has_cstate(t))
        RUNTIME_ERROR("tasklet has C state on its stack", -1);
    if (t->thread != NULL && t == t->thread->main && args == NULL && kwargs == NULL)
        RUNTIME_ERROR("can't unbind the main tasklet", -1);

    clear_frames(t);
    if (func != NULL) {
        /* binding a callable captures the current contextvars.Context */
        PyThreadState *ts = PyThreadState_Get();
        if (ts->context == NULL) {
            ts->context = PyContext_New();
            if (ts->context == NULL)
                return -1;
            ts->context_ver++;
        }
        Py_INCREF(ts->context);
        Py_XSETREF(t->context, ts->context);
    }
    if (args == NULL && kwargs == NULL) {
        /* just binding or unbinding the function */
        PyObject *v = func ? func : Py_None;
        Py_INCREF(v);
        Py_XSETREF(t->tempval, v);
        return 0;
    }
    else {
        PyObject *old = NULL, *a, *k;
        int r;
        if (func != NULL) {
            old = t->tempval;
            Py_INCREF(func);
            t->tempval = func;
        }
        a = args ? (Py_INCREF(args), args) : PyTuple_New(0);
        k = kwargs;
        Py_XINCREF(k);
        if (a == NULL) {
            r = -1;
        }
        else
            r = tasklet_setup_impl(t, a, k, 0);
        Py_XDECREF(a);
        Py_XDECREF(k);
        if (r < 0) {
            if (old != NULL)
                Py_XSETREF(t->tempval, old);
            return -1;
        }
        Py_XDECREF(old);
        return 0;
    }
}

PyDoc_STRVAR(bind_doc,
"bind(func=None, args=None, kwargs=None)\n\n"
"Bind the tasklet to a callable and, optionally, its arguments.  With\n"
"arguments the tasklet becomes alive but stays paused (not scheduled);\n"
"with all arguments None it is unbound.");

static PyObject *
tasklet_bind(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"func", "args", "kwargs", NULL};
    PyObject *func = Py_None, *fargs = Py_None, *fkwargs = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:bind", kwlist, &func, &fargs, &fkwargs))
        return NULL;
    if (tasklet_bind_impl((Tasklet *)self, func, fargs, fkwargs) < 0)
        return NULL;
    Py_INCREF(self);
    return self;
}

PyDoc_STRVAR(setup_doc,
"setup(*args, **kwargs)\n\n"
"Supply the arguments of the bound callable and make the tasklet runnable.");

static PyObject *
tasklet_setup(PyObject *self, PyObject *args, PyObject *kwds)
{
    Tasklet *t = (Tasklet *)self;
    if (thread_for(self) == NULL)
        return NULL;
    if (tasklet_alive(t) || is_current(t))
        RUNTIME_ERROR("tasklet is alive", NULL);
    if (t->next != NULL)
        RUNTIME_ERROR("tasklet is scheduled", NULL);
    if (tasklet_setup_impl(t, args, kwds, 1) < 0)
        return NULL;
    Py_INCREF(self);
    return self;
}

/* ------------------------------------------------------------------ */
/* Run queue methods                                                    */
/* ------------------------------------------------------------------ */

int
slp_tasklet_insert(SlpThread *cur, Tasklet *t)
{
    SlpThread *th = t->thread;
    (void)cur;
    if (t->flags & TF_BLOCKED)
        RUNTIME_ERROR("You cannot run a blocked tasklet", -1);
    if (t->next == NULL) {
        if (th == NULL || !th->alive)
            RUNTIME_ERROR("Target thread isn't initialized", -1);
        if (t->greenlet == NULL && t->u.c.args == NULL && !is_current(t))
            RUNTIME_ERROR("You cannot run an unbound(dead) tasklet", -1);
        Py_INCREF(t);
        slp_rq_insert(th, t);
        if (th != cur)
            slp_thread_unblock(th);
    }
    return 0;
}

PyDoc_STRVAR(insert_doc,
"insert()\n\nInsert this tasklet at the end of the run queue, if it is not blocked.");

static PyObject *
tasklet_insert(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = thread_for(self);
    if (th == NULL || slp_tasklet_insert(th, (Tasklet *)self) < 0)
        return NULL;
    Py_INCREF(self);
    return self;
}

PyDoc_STRVAR(remove_doc,
"remove()\n\nRemove this tasklet from the run queue (it becomes paused).");

static PyObject *
tasklet_remove(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Tasklet *t = (Tasklet *)self;
    SlpThread *th;
    if (thread_for(self) == NULL)
        return NULL;
    th = t->thread;
    if (th != NULL && th->alive) {
        if (t->flags & TF_BLOCKED)
            RUNTIME_ERROR("You cannot remove a blocked tasklet.", NULL);
        if (t == th->current)
            RUNTIME_ERROR("The current tasklet cannot be removed.", NULL);
        /* inside a schedule callback the tasklet about to run must stay queued */
        if (th->schedlock)
            RUNTIME_ERROR("Recursive scheduler call due to callbacks!", NULL);
        if (t->next != NULL) {
            slp_rq_remove_task(th, t);
            Py_DECREF(t);    /* the queue's reference; the caller holds one */
        }
    }
    Py_INCREF(self);
    return self;
}

static PyObject *
run_remove(Tasklet *task, int remove)
{
    SlpThread *th = thread_for((PyObject *)task);
    Tasklet *prev;
    PyObject *ret = NULL;
    int inserted, fail, switched = 0, removed = 0;

    if (th == NULL)
        return NULL;
    prev = th->current;
    inserted = task->next == NULL;
    if (task->thread == th) {
        fail = slp_tasklet_insert(th, task);
        if (!fail && remove && prev != task) {
            /* prev pauses; its queue reference is released after the switch
             * (never held by this C frame: see slp_schedule) */
            slp_rq_remove(th);
            Py_CLEAR(th->del_post_switch);
            th->del_post_switch = (PyObject *)prev;
            removed = 1;
        }
    }
    else {
        SlpThread *rts = task->thread;
        if (rts == NULL || !rts->alive)
            RUNTIME_ERROR("tasklet has no thread", NULL);
        if (remove)
            RUNTIME_ERROR("can't switch to a different thread.", NULL);
        if (rts->is_idle || rts->current == NULL) {
            fail = slp_tasklet_insert(th, task);
            if (!fail && inserted)
                rts->current = task;
        }
        else {
            Tasklet *c = rts->current;
            rts->current = c->next;
            fail = slp_tasklet_insert(th, task);
            rts->current = c;
        }
    }
    if (fail)
        return NULL;
    fail = slp_schedule_task(th, &ret, prev, task, &switched);
    if (fail) {
        if (removed && th->del_post_switch == (PyObject *)prev) {
            th->del_post_switch = NULL;
            if (prev->next == NULL)
                slp_rq_unremove(th, prev);    /* gives the reference back */
            else
                Py_DECREF(prev);
        }
        if (inserted && task->next != NULL && task->thread == th && !(task->flags & TF_BLOCKED)) {
            slp_rq_remove_task(th, task);
            Py_DECREF(task);
        }
        return NULL;
    }
    if (removed && !switched)
        Py_CLEAR(th->del_post_switch);
    return ret;
}

PyDoc_STRVAR(run_doc,
"run()\n\nSwitch to this tasklet now; the current tasklet stays runnable.");

static PyObject *
tasklet_run(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return run_remove((Tasklet *)self, 0);
}

PyDoc_STRVAR(switch_doc,
"switch()\n\nSwitch to this tasklet now and pause the current tasklet.");

static PyObject *
tasklet_switch(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return run_remove((Tasklet *)self, 1);
}

/* ------------------------------------------------------------------ */
/* Exceptions: throw, raise_exception, kill                             */
/* ------------------------------------------------------------------ */

/* Consumes `bomb`. */
PyObject *
slp_tasklet_throw_bomb(SlpThread *th, Tasklet *self, int pending, PyObject *bomb)
{
    slp_state *st = th->st;
    PyObject *ret = NULL, *tmpval;
    int fail;

    if (is_current(self) && self->thread == th)
        return slp_bomb_explode(bomb);

    if (!tasklet_alive(self)) {
        Bomb *b = (Bomb *)bomb;
        int has_frames = self->greenlet != NULL || self->u.c.args != NULL;
        int is_exit = b->type != NULL && PyType_Check(b->type) &&
                      PyObject_IsSubclass(b->type, st->TaskletExit) == 1;
        if (!is_exit || ((self->thread == NULL || !self->thread->alive) && has_frames)) {
            Py_DECREF(bomb);
            if (self->thread == NULL || !self->thread->alive)
                RUNTIME_ERROR("tasklet has no thread", NULL);
            RUNTIME_ERROR("You cannot throw to a dead tasklet", NULL);
        }
        /* TaskletExit to a dead tasklet: just make sure it is not queued */
        Py_DECREF(bomb);
        if (self->flags & TF_BLOCKED) {
            slp_channel_remove_slow(self, NULL);
            Py_DECREF(self);
        }
        else if (self->next != NULL && self->thread != NULL && self->thread->alive) {
            slp_rq_remove_task(self->thread, self);
            Py_DECREF(self);
        }
        Py_RETURN_NONE;
    }
    tmpval = self->tempval;
    self->tempval = bomb;
    if (!pending) {
        Py_INCREF(self);
        fail = slp_schedule_task(th, &ret, th->current, self, NULL);
        Py_DECREF(self);
    }
    else {
        Channel *u_chan = NULL;
        int u_dir = 0;
        if (self->flags & TF_BLOCKED)
            u_chan = slp_channel_remove_slow(self, &u_dir);   /* we own its ref */
        fail = slp_tasklet_insert(th, self);
        if (u_chan != NULL) {
            if (fail)
                slp_channel_insert(u_chan, self, u_dir);
            else
                Py_DECREF(self);
        }
        if (!fail) {
            Py_INCREF(Py_None);
            ret = Py_None;
        }
    }
    if (fail) {
        PyObject *b = self->tempval;
        self->tempval = tmpval;
        Py_XDECREF(b);
        return NULL;
    }
    Py_XDECREF(tmpval);
    return ret;
}

PyDoc_STRVAR(throw_doc,
"throw(exc=None, val=None, tb=None, pending=False)\n\n"
"Raise an exception in the tasklet, with the semantics of the raise\n"
"statement.  Unless pending, the tasklet runs at once; with pending it is\n"
"only made runnable.");

static PyObject *
tasklet_throw(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"exc", "val", "tb", "pending", NULL};
    PyObject *exc, *val = Py_None, *tb = Py_None, *pendingO = Py_False, *bomb;
    SlpThread *th;
    int pending;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOO:throw", kwlist, &exc, &val, &tb, &pendingO))
        return NULL;
    pending = PyObject_IsTrue(pendingO);
    if (pending < 0)
        return NULL;
    th = thread_for(self);
    if (th == NULL)
        return NULL;
    bomb = slp_exc_to_bomb(th->st, exc, val, tb);
    if (bomb == NULL)
        return NULL;
    return slp_tasklet_throw_bomb(th, (Tasklet *)self, pending, bomb);
}

PyDoc_STRVAR(raise_exception_doc,
"raise_exception(exc_class, *args)\n\n"
"Raise exc_class(*args) in the tasklet, which runs at once.");

static PyObject *
tasklet_raise_exception(PyObject *self, PyObject *args)
{
    SlpThread *th;
    PyObject *klass, *rest, *bomb;
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "raise_exception() takes at least 1 argument");
        return NULL;
    }
    th = thread_for(self);
    if (th == NULL)
        return NULL;
    klass = PyTuple_GET_ITEM(args, 0);
    rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (rest == NULL)
        return NULL;
    bomb = slp_make_bomb(th->st, klass, rest, "tasklet.raise_exception");
    Py_DECREF(rest);
    if (bomb == NULL)
        return NULL;
    return slp_tasklet_throw_bomb(th, (Tasklet *)self, 0, bomb);
}

PyDoc_STRVAR(kill_doc,
"kill(pending=False)\n\n"
"Raise TaskletExit in the tasklet.  A tasklet that never ran ends without\n"
"running its function; killing a dead tasklet does nothing.");

static PyObject *
tasklet_kill(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pending", NULL};
    PyObject *pendingO = Py_False, *bomb;
    Tasklet *t = (Tasklet *)self;
    SlpThread *th;
    int pending;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:kill", kwlist, &pendingO))
        return NULL;
    pending = PyObject_IsTrue(pendingO);
    if (pending < 0)
        return NULL;
    th = thread_for(self);
    if (th == NULL)
        return NULL;
    if (t->thread == NULL || !t->thread->alive) {
        /* its thread is gone: drop the frames (never switch into a dead thread) */
        clear_frames(t);
        if (t->greenlet != NULL) {
            t->flags |= TF_STARTED;
            Py_CLEAR(t->greenlet);
        }
    }
    bomb = slp_exc_to_bomb(th->st, th->st->TaskletExit, NULL, NULL);
    if (bomb == NULL)
        return NULL;
    return slp_tasklet_throw_bomb(th, t, pending, bomb);
}

/* ------------------------------------------------------------------ */
/* Flags                                                                */
/* ------------------------------------------------------------------ */

static PyObject *
set_flag(Tasklet *t, PyObject *flag, uint32_t bit, const char *msg)
{
    int old = (t->flags & bit) != 0;
    if (flag == NULL || !PyLong_Check(flag)) {
        PyErr_SetString(PyExc_TypeError, msg);
        return NULL;
    }
    if (PyObject_IsTrue(flag))
        t->flags |= bit;
    else
        t->flags &= ~bit;
    return PyBool_FromLong(old);
}

PyDoc_STRVAR(set_atomic_doc,
"set_atomic(flag) -> previous flag\n\n"
"While atomic, the tasklet is not pre-empted by run(timeout).  New tasklets\n"
"start with the atomic flag of their creator.");

static PyObject *
tasklet_set_atomic(PyObject *self, PyObject *flag)
{
    return set_flag((Tasklet *)self, flag, TF_ATOMIC, "set_atomic needs exactly one bool or integer");
}

PyDoc_STRVAR(set_ignore_nesting_doc,
"set_ignore_nesting(flag) -> previous flag");

static PyObject *
tasklet_set_ignore_nesting(PyObject *self, PyObject *flag)
{
    return set_flag((Tasklet *)self, flag, TF_IGNORE_NESTING,
                    "set_ignore_nesting needs exactly one bool or integer");
}

PyDoc_STRVAR(bind_thread_doc,
"bind_thread(thread_id=None)\n\n"
"Move a tasklet that has no C state to another thread (default: this one).");

static PyObject *
tasklet_bind_thread(PyObject *self, PyObject *args)
{
    Tasklet *t = (Tasklet *)self;
    PyObject *tid = NULL;
    SlpThread *cur = thread_for(self), *target = NULL;
    unsigned long id = 0;
    int want_current = 1;

    if (cur == NULL)
        return NULL;
    if (!PyArg_ParseTuple(args, "|O!:bind_thread", &PyLong_Type, &tid))
        return NULL;
    if (tid != NULL) {
        long v = PyLong_AsLong(tid);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            v = 0;
        }
        if (v != -1) {
            id = PyLong_AsUnsignedLong(tid);
            if (id == (unsigned long)-1 && PyErr_Occurred())
                return NULL;
            want_current = 0;
        }
    }
    if (want_current && t->thread == cur)
        Py_RETURN_NONE;
    if (t->next != NULL && !(t->flags & TF_BLOCKED))
        RUNTIME_ERROR("can't (re)bind a runnable tasklet", NULL);
    if (has_cstate(t))
        RUNTIME_ERROR("tasklet has C state on its stack", NULL);
    if (want_current || id == cur->thread_id)
        target = cur;
    else {
        SlpThread *p;
        for (p = cur->st->threads; p != NULL; p = p->reg_next)
            if (p->alive && p->thread_id == id)
                break;
        target = p;
    }
    if (target == NULL) {
        PyErr_SetString(PyExc_ValueError, "bad thread");
        return NULL;
    }
    if (target != t->thread) {
        SlpThread *old = t->thread;
        slp_thread_incref(target);
        t->thread = target;
        if (old)
            slp_thread_decref(old);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Context                                                              */
/* ------------------------------------------------------------------ */

/* The tasklet's context (new reference; may create the lazy one). */
static PyObject *
tasklet_context(Tasklet *t)
{
    if (is_current(t)) {
        PyThreadState *ts;
        if (t->thread->tstate != PyThreadState_Get())
            RUNTIME_ERROR("the tasklet is the current tasklet of another thread", NULL);
        ts = PyThreadState_Get();
        if (ts->context == NULL) {
            ts->context = PyContext_New();
            if (ts->context == NULL)
                return NULL;
            ts->context_ver++;
        }
        Py_INCREF(ts->context);
        return ts->context;
    }
    if (t->greenlet != NULL) {
        PyObject *c = slp_greenlet_get_context(t->greenlet);
        if (c == NULL)
            return NULL;
        if (c == Py_None) {
            Py_DECREF(c);
            c = PyContext_New();
            if (c == NULL)
                return NULL;
            if (slp_greenlet_set_context(t->greenlet, c) < 0)
                PyErr_Clear();
        }
        return c;
    }
    if (t->context == NULL) {
        t->context = PyContext_New();
        if (t->context == NULL)
            return NULL;
    }
    Py_INCREF(t->context);
    return t->context;
}

PyDoc_STRVAR(set_context_doc,
"set_context(context) -> tasklet\n\n"
"Set the contextvars.Context the tasklet runs in.\n"
"Raises RuntimeError if the tasklet belongs to another thread and is its\n"
"current or a runnable tasklet, or if the tasklet's context is entered\n"
"(it is running Context.run(), or is inside it while suspended).");

/* Is ctx entered (inside Context.run() somewhere)?  1 yes, 0 no, -1 error.
 * The public API has no getter for the flag; entering fails exactly when it
 * is set, and leaving at once restores the thread's context as it was. */
static int
context_is_entered(PyObject *ctx)
{
    if (PyContext_Enter(ctx) == 0) {
        if (PyContext_Exit(ctx) < 0)
            return -1;
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_RuntimeError))
        return -1;
    PyErr_Clear();
    return 1;
}

static PyObject *
context_entered_error(void)
{
    /* Stackless 3.8's message, full stop included */
    PyErr_SetString(PyExc_RuntimeError, "the current context of the tasklet has been entered.");
    return NULL;
}

static PyObject *
tasklet_set_context(PyObject *self, PyObject *ctx)
{
    Tasklet *t = (Tasklet *)self;
    PyThreadState *cts = PyThreadState_Get();
    PyObject *old;
    int entered;

    if (!PyContext_CheckExact(ctx)) {
        PyErr_Format(PyExc_TypeError, "argument must be a contextvars.Context, not %.200s",
                     Py_TYPE(ctx)->tp_name);
        return NULL;
    }
    if (is_current(t)) {
        if (t->thread->tstate != cts)
            RUNTIME_ERROR("tasklet belongs to a different thread", NULL);
        old = cts->context;
        if (old != NULL) {
            if ((entered = context_is_entered(old)) != 0)
                return entered < 0 ? NULL : context_entered_error();
        }
        Py_INCREF(ctx);
        Py_XSETREF(cts->context, ctx);
        cts->context_ver++;
    }
    else {
        /* Stackless: another thread may set the context of a tasklet that
         * cannot run there before it is told to (new, paused, blocked) */
        if (t->thread != NULL && t->thread->alive && t->thread->tstate != cts &&
            t->next != NULL && !(t->flags & TF_BLOCKED))
            RUNTIME_ERROR("tasklet belongs to a different thread", NULL);
        if (t->greenlet != NULL) {
            /* started: its context is the one its suspended greenlet resumes in */
            old = slp_greenlet_get_context(t->greenlet);
            if (old == NULL)
                return NULL;
            entered = old == Py_None ? 0 : context_is_entered(old);
            Py_DECREF(old);
            if (entered != 0)
                return entered < 0 ? NULL : context_entered_error();
            if (slp_greenlet_set_context(t->greenlet, ctx) < 0)
                return NULL;
        }
        else {
            if (t->context != NULL) {
                if ((entered = context_is_entered(t->context)) != 0)
                    return entered < 0 ? NULL : context_entered_error();
            }
            Py_INCREF(ctx);
            Py_XSETREF(t->context, ctx);
        }
    }
    Py_INCREF(self);
    return self;
}

PyDoc_STRVAR(context_run_doc,
"context_run(callable, *args, **kwargs)\n\n"
"Call callable(*args, **kwargs) with the tasklet's context as the current context.");

static PyObject *
tasklet_context_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Tasklet *t = (Tasklet *)self;
    PyThreadState *ts = PyThreadState_Get();
    PyObject *ctx, *saved, *r;

    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "context_run() missing 1 required positional argument");
        return NULL;
    }
    ctx = tasklet_context(t);
    if (ctx == NULL)
        return NULL;
    if (ctx == ts->context) {
        Py_DECREF(ctx);
        return PyObject_Vectorcall(args[0], args + 1, nargs - 1, kwnames);
    }
    saved = ts->context;           /* our reference now */
    ts->context = ctx;             /* steals ctx */
    ts->context_ver++;
    r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, kwnames);
    Py_XSETREF(ts->context, saved);
    ts->context_ver++;
    return r;
}

static PyObject *
tasklet_get_context_id(Tasklet *t, void *Py_UNUSED(c))
{
    PyObject *ctx = tasklet_context(t), *r;
    if (ctx == NULL)
        return NULL;
    r = PyLong_FromVoidPtr(ctx);
    Py_DECREF(ctx);
    return r;
}

/* ------------------------------------------------------------------ */
/* Pickling                                                             */
/* ------------------------------------------------------------------ */

PyDoc_STRVAR(reduce_doc,
"__reduce__()\n\n"
"Unstarted and dead tasklets pickle.  A started tasklet cannot: its frames\n"
"and C stack live in a greenlet, and stock CPython cannot pickle running frames.");

static PyObject *
tasklet_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Tasklet *t = (Tasklet *)self;
    PyObject *lis, *ret;
    if (is_current(t))
        RUNTIME_ERROR("You cannot __reduce__ the tasklet which is current.", NULL);
    if (t->greenlet != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot pickle a started tasklet: its frames and C stack live in a "
                        "greenlet, and stock CPython (without Stackless' interpreter support) "
                        "cannot pickle running frames");
        return NULL;
    }
    if (t->u.c.args != NULL) {
        PyObject *a = t->u.c.args, *k = Py_None;
        if (t->flags & TF_KWARGS) {
            a = PyTuple_GET_ITEM(t->u.c.args, 0);
            k = PyTuple_GET_ITEM(t->u.c.args, 1);
        }
        lis = Py_BuildValue("[OOO]", t->u.c.func, a, k);
    }
    else
        lis = PyList_New(0);
    if (lis == NULL)
        return NULL;
    ret = Py_BuildValue("(O()(IOiOOOOO))", Py_TYPE(t), (unsigned int)(t->flags & TF_PICKLED),
                        t->tempval ? t->tempval : Py_None, 0, lis,
                        Py_None, Py_None, Py_None, Py_None);
    Py_DECREF(lis);
    return ret;
}

static PyObject *
tasklet_setstate(PyObject *self, PyObject *state)
{
    Tasklet *t = (Tasklet *)self;
    unsigned int flags;
    int nesting;
    PyObject *tempval, *lis, *e1, *e2, *e3, *e4;
    if (!PyArg_ParseTuple(state, "IOiO!OOOO:tasklet", &flags, &tempval, &nesting,
                          &PyList_Type, &lis, &e1, &e2, &e3, &e4))
        return NULL;
    if (t->greenlet != NULL || t->next != NULL)
        RUNTIME_ERROR("tasklet is alive", NULL);
    if (PyList_GET_SIZE(lis) != 0 && PyList_GET_SIZE(lis) != 3) {
        PyErr_SetString(PyExc_ValueError, "bad frame list in tasklet state");
        return NULL;
    }
    clear_frames(t);
    t->flags = (t->flags & ~TF_PICKLED) | (flags & TF_PICKLED);
    if (PyList_GET_SIZE(lis) == 3) {
        PyObject *func = PyList_GET_ITEM(lis, 0), *a = PyList_GET_ITEM(lis, 1),
                 *k = PyList_GET_ITEM(lis, 2);
        if (tasklet_bind_impl(t, func, a, k) < 0)
            return NULL;
    }
    Py_INCREF(tempval);
    Py_XSETREF(t->tempval, tempval);
    Py_INCREF(self);
    return self;
}

/* ------------------------------------------------------------------ */
/* Attributes                                                           */
/* ------------------------------------------------------------------ */

static PyObject *get_alive(Tasklet *t, void *c) { (void)c; return PyBool_FromLong(tasklet_alive(t) || (is_current(t))); }
static PyObject *get_paused(Tasklet *t, void *c) { (void)c; return PyBool_FromLong(tasklet_alive(t) && t->next == NULL); }
static PyObject *get_blocked(Tasklet *t, void *c) { (void)c; return PyBool_FromLong((t->flags & TF_BLOCKED) != 0); }
static PyObject *get_scheduled(Tasklet *t, void *c) { (void)c; return PyBool_FromLong(t->next != NULL); }
static PyObject *get_restorable(Tasklet *t, void *c) { (void)c; return PyBool_FromLong(t->greenlet == NULL); }
static PyObject *get_atomic(Tasklet *t, void *c) { (void)c; return PyBool_FromLong((t->flags & TF_ATOMIC) != 0); }
static PyObject *get_ignore_nesting(Tasklet *t, void *c) { (void)c; return PyBool_FromLong((t->flags & TF_IGNORE_NESTING) != 0); }
static PyObject *get_block_trap(Tasklet *t, void *c) { (void)c; return PyBool_FromLong((t->flags & TF_BLOCK_TRAP) != 0); }
static PyObject *get_is_current(Tasklet *t, void *c)
{
    (void)c;
    return PyBool_FromLong(t->thread != NULL && t->thread->alive &&
                           slp_visible_current(t->thread) == t);
}
static PyObject *get_nesting_level(Tasklet *t, void *c) { (void)c; (void)t; return PyLong_FromLong(0); }

static int
set_block_trap(Tasklet *t, PyObject *v, void *c)
{
    (void)c;
    if (v == NULL || !PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "block_trap must be set to a bool or integer");
        return -1;
    }
    if (PyObject_IsTrue(v))
        t->flags |= TF_BLOCK_TRAP;
    else
        t->flags &= ~TF_BLOCK_TRAP;
    return 0;
}

static PyObject *
get_is_main(Tasklet *t, void *c)
{
    (void)c;
    return PyBool_FromLong(t->thread != NULL && t->thread->alive && t->thread->main == t);
}

static PyObject *
get_thread_id(Tasklet *t, void *c)
{
    (void)c;
    if (t->thread != NULL && t->thread->alive)
        return PyLong_FromUnsignedLong(t->thread->thread_id);
    return PyLong_FromLong(-1);
}

static PyObject *
node_or_none(Tasklet *n)
{
    PyObject *r = (n == NULL || SLP_IS_CHANNEL_NODE(n)) ? Py_None : (PyObject *)n;
    Py_INCREF(r);
    return r;
}

static PyObject *get_next(Tasklet *t, void *c) { (void)c; return node_or_none(t->next); }
static PyObject *get_prev(Tasklet *t, void *c) { (void)c; return node_or_none(t->prev); }

static PyObject *
get_channel(Tasklet *t, void *c)
{
    (void)c;
    if ((t->flags & TF_BLOCKED) && t->chan != NULL) {
        Py_INCREF(t->chan);
        return (PyObject *)t->chan;
    }
    Py_RETURN_NONE;
}

static PyObject *
get_tempval(Tasklet *t, void *c)
{
    PyObject *v = t->tempval ? t->tempval : Py_None;
    (void)c;
    Py_INCREF(v);
    return v;
}

static int
set_tempval(Tasklet *t, PyObject *v, void *c)
{
    (void)c;
    if (v == NULL)
        v = Py_None;
    Py_INCREF(v);
    Py_XSETREF(t->tempval, v);
    return 0;
}

static PyObject *
get_frame(Tasklet *t, void *c)
{
    (void)c;
    if (is_current(t)) {
        PyFrameObject *f;
        if (t->thread->tstate != PyThreadState_Get())
            Py_RETURN_NONE;
        f = PyEval_GetFrame();
        if (f == NULL)
            Py_RETURN_NONE;
        Py_INCREF(f);
        return (PyObject *)f;
    }
    if (t->greenlet != NULL && t->thread != NULL && t->thread->alive)
        return slp_greenlet_frame(t->greenlet);
    Py_RETURN_NONE;
}

static PyObject *
get_recursion_depth(Tasklet *t, void *c)
{
    PyObject *f = get_frame(t, c);
    long n = 0;
    if (f == NULL)
        return NULL;
    if (f != Py_None) {
        PyFrameObject *fr = (PyFrameObject *)f;
        Py_INCREF(fr);
        while (fr != NULL) {
            PyFrameObject *back = PyFrame_GetBack(fr);
            n++;
            Py_DECREF(fr);
            fr = back;
        }
    }
    Py_DECREF(f);
    return PyLong_FromLong(n);
}

static PyObject *
get_trace_function(Tasklet *t, void *c)
{
    (void)c;
    return slp_trace_get(t->thread, t, 0);
}

static PyObject *
get_profile_function(Tasklet *t, void *c)
{
    (void)c;
    return slp_trace_get(t->thread, t, 1);
}

static int
set_trace_function(Tasklet *t, PyObject *v, void *c)
{
    SlpThread *th = thread_for((PyObject *)t);
    (void)c;
    if (th == NULL)
        return -1;
    return slp_trace_set(th, t, 0, v ? v : Py_None);
}

static int
set_profile_function(Tasklet *t, PyObject *v, void *c)
{
    SlpThread *th = thread_for((PyObject *)t);
    (void)c;
    if (th == NULL)
        return -1;
    return slp_trace_set(th, t, 1, v ? v : Py_None);
}

static PyGetSetDef tasklet_getset[] = {
    {"alive", (getter)get_alive, NULL, "True while the tasklet has a function to run or is running.", NULL},
    {"paused", (getter)get_paused, NULL, "alive, but neither runnable nor blocked.", NULL},
    {"blocked", (getter)get_blocked, NULL, "True while waiting on a channel.", NULL},
    {"scheduled", (getter)get_scheduled, NULL, "runnable or blocked on a channel.", NULL},
    {"restorable", (getter)get_restorable, NULL, "True if the tasklet has no C state (it can be pickled).", NULL},
    {"atomic", (getter)get_atomic, NULL, "the atomic flag (see set_atomic).", NULL},
    {"ignore_nesting", (getter)get_ignore_nesting, NULL, "the ignore_nesting flag.", NULL},
    {"block_trap", (getter)get_block_trap, (setter)set_block_trap,
     "when set, blocking on a channel raises RuntimeError instead.", NULL},
    {"is_main", (getter)get_is_main, NULL, "True for the main tasklet of its thread.", NULL},
    {"is_current", (getter)get_is_current, NULL, "True for the running tasklet of its thread.", NULL},
    {"thread_id", (getter)get_thread_id, NULL, "id of the tasklet's thread; -1 once it has ended.", NULL},
    {"next", (getter)get_next, NULL, "the next tasklet in the queue it is in.", NULL},
    {"prev", (getter)get_prev, NULL, "the previous tasklet in the queue it is in.", NULL},
    {"channel", (getter)get_channel, NULL, "the channel the tasklet is blocked on, or None.", NULL},
    {"tempval", (getter)get_tempval, (setter)set_tempval, "the value passed at the next switch.", NULL},
    {"frame", (getter)get_frame, NULL, "the frame the tasklet executes (None before it starts).", NULL},
    {"recursion_depth", (getter)get_recursion_depth, NULL, "number of Python frames of the tasklet.", NULL},
    {"nesting_level", (getter)get_nesting_level, NULL, "always 0: every switch is a hard switch here.", NULL},
    {"context_id", (getter)tasklet_get_context_id, NULL, "id() of the tasklet's contextvars.Context.", NULL},
    {"trace_function", (getter)get_trace_function, (setter)set_trace_function, "the trace function (current tasklet).", NULL},
    {"profile_function", (getter)get_profile_function, (setter)set_profile_function, "the profile function (current tasklet).", NULL},
    {NULL, 0, 0, 0, NULL}
};

static PyMethodDef tasklet_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))tasklet_bind, METH_VARARGS | METH_KEYWORDS, bind_doc},
    {"setup", (PyCFunction)(void (*)(void))tasklet_setup, METH_VARARGS | METH_KEYWORDS, setup_doc},
    {"insert", tasklet_insert, METH_NOARGS, insert_doc},
    {"remove", tasklet_remove, METH_NOARGS, remove_doc},
    {"run", tasklet_run, METH_NOARGS, run_doc},
    {"switch", tasklet_switch, METH_NOARGS, switch_doc},
    {"throw", (PyCFunction)(void (*)(void))tasklet_throw, METH_VARARGS | METH_KEYWORDS, throw_doc},
    {"raise_exception", tasklet_raise_exception, METH_VARARGS, raise_exception_doc},
    {"kill", (PyCFunction)(void (*)(void))tasklet_kill, METH_VARARGS | METH_KEYWORDS, kill_doc},
    {"set_atomic", tasklet_set_atomic, METH_O, set_atomic_doc},
    {"set_ignore_nesting", tasklet_set_ignore_nesting, METH_O, set_ignore_nesting_doc},
    {"bind_thread", tasklet_bind_thread, METH_VARARGS, bind_thread_doc},
    {"set_context", tasklet_set_context, METH_O, set_context_doc},
    {"context_run", (PyCFunction)(void (*)(void))tasklet_context_run, METH_FASTCALL | METH_KEYWORDS, context_run_doc},
    {"__reduce__", tasklet_reduce, METH_NOARGS, reduce_doc},
    {"__reduce_ex__", (PyCFunction)tasklet_reduce, METH_O, reduce_doc},
    {"__setstate__", tasklet_setstate, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef tasklet_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Tasklet, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}
};

PyDoc_STRVAR(tasklet_doc,
"tasklet(func=None, args=None, kwargs=None)\n\n"
"A tasklet: a micro-thread scheduled cooperatively by stackless.");

static PyType_Slot tasklet_slots[] = {
    {Py_tp_new, tasklet_new},
    {Py_tp_init, tasklet_init},
    {Py_tp_call, tasklet_setup},
    {Py_tp_dealloc, tasklet_dealloc},
    {Py_tp_finalize, tasklet_finalize},
    {Py_tp_traverse, tasklet_traverse},
    {Py_tp_clear, tasklet_clear},
    {Py_tp_methods, tasklet_methods},
    {Py_tp_members, tasklet_members},
    {Py_tp_getset, tasklet_getset},
    {Py_tp_doc, (void *)tasklet_doc},
    {0, NULL}
};

PyType_Spec slp_tasklet_spec = {
    .name = "stackless.tasklet",
    .basicsize = sizeof(Tasklet),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = tasklet_slots,
};
