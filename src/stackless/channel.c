/*
 * channel.c -- the channel type.
 *
 * Owns: stackless.channel: send / receive and their exception variants,
 * iteration and send_sequence, close / open, preference and schedule_all,
 * the channel callback, pickling and GC support.
 *
 * A channel is the head of a circular list of the tasklets blocked on it
 * (threaded through Tasklet.next/prev; the channel itself is the sentinel).
 * They are either all senders (balance > 0) or all receivers (balance < 0).
 * The channel owns one reference per blocked tasklet.  Each blocked tasklet
 * also points back at its channel (Tasklet.chan, borrowed), so a tasklet is
 * unlinked from any position in O(1) (kill/throw/raise_exception of a blocked
 * tasklet, a cross-thread wake-up) without walking the queue.
 *
 * Resume order (Stackless' rules), when a send meets a waiting receiver or a
 * receive meets a waiting sender:
 *   preference == -dir  (default -1 for send): the waiting tasklet runs at
 *                        once, the caller stays runnable right behind it;
 *   preference == dir   : the caller continues, the waiter is queued;
 *   preference == 0     : the caller continues, the waiter is queued;
 *   schedule_all        : both are queued, the next runnable tasklet runs.
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

/* ------------------------------------------------------------------ */
/* Queue                                                                */
/* ------------------------------------------------------------------ */

/* Append t (blocked in direction dir); steals a reference. */
void
slp_channel_insert(Channel *ch, Tasklet *t, int dir)
{
    Tasklet *head = CHANNEL_AS_NODE(ch);
    assert(t->next == NULL && t->prev == NULL);
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
    ch->balance += dir;
    t->flags |= dir > 0 ? TF_BLOCKED_SEND : TF_BLOCKED_RECV;
    t->chan = ch;
}

/* Remove t (or the first tasklet when t is NULL); returns the reference. */
Tasklet *
slp_channel_remove(Channel *ch, Tasklet *t, int *dir_out)
{
    int dir = ch->balance > 0 ? 1 : -1;
    assert(ch->balance != 0);
    if (t == NULL)
        t = ch->next;
    if (dir_out)
        *dir_out = dir;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
    ch->balance -= dir;
    t->flags &= ~TF_BLOCKED;
    t->chan = NULL;
    return t;
}

/* Remove a blocked tasklet from whatever channel it is on, in O(1) (t->chan
 * names the channel; the queue is doubly linked); the reference the channel
 * held is now the caller's.  Returns the channel (borrowed). */
Channel *
slp_channel_remove_slow(Tasklet *t, int *dir_out)
{
    Channel *ch = t->chan;
    assert(t->flags & TF_BLOCKED);
    assert(ch != NULL && t->prev != NULL && t->next != NULL);
    slp_channel_remove(ch, t, dir_out);
    return ch;
}

/* ------------------------------------------------------------------ */
/* Callback                                                             */
/* ------------------------------------------------------------------ */

SLP_COLD static int
notify_channel_hook(SlpThread *th, Channel *ch, Tasklet *t, int dir, int cando)
{
    PyObject *hook = th->st->channel_hook, *r;
    PyObject *et, *ev, *etb;
    if (th->schedlock)
        RUNTIME_ERROR("Recursive channel call due to callbacks!", -1);
    PyErr_Fetch(&et, &ev, &etb);
    Py_INCREF(hook);
    th->schedlock = 1;
    r = PyObject_CallFunction(hook, "(OOii)", (PyObject *)ch, (PyObject *)t, dir > 0, !cando);
    th->schedlock = 0;
    if (r == NULL) {
        PyObject *msg = PyUnicode_FromString("Error in channel callback");
        PyErr_WriteUnraisable(msg);
        Py_XDECREF(msg);
        PyErr_Clear();
    }
    else
        Py_DECREF(r);
    Py_DECREF(hook);
    PyErr_Restore(et, ev, etb);
    return 0;
}

static inline int
notify_channel(SlpThread *th, Channel *ch, Tasklet *t, int dir, int cando)
{
    /* also without a channel hook: inside a schedule callback current is not
     * the tasklet that runs, its tempval must not be touched */
    if (SLP_UNLIKELY(th->schedlock))
        RUNTIME_ERROR("Recursive channel call due to callbacks!", -1);
    if (SLP_LIKELY(th->st->channel_hook == NULL))
        return 0;
    return notify_channel_hook(th, ch, t, dir, cando);
}

/* ------------------------------------------------------------------ */
/* Send / receive                                                       */
/* ------------------------------------------------------------------ */

static int
channel_cando(SlpThread *th, PyObject **result, Channel *self, int dir)
{
    Tasklet *source = th->current, *target, *switchto;
    PyObject *tmp;
    uint32_t oldflags = th->runflags, runflags = 0;
    int interthread, fail;

    switchto = target = slp_channel_remove(self, NULL, NULL);
    interthread = target->thread != th;
    /* exchange data */
    tmp = source->tempval;
    source->tempval = target->tempval;
    target->tempval = tmp;

    if (!interthread) {
        if (self->flags & CF_SCHEDULE_ALL) {
            slp_rq_insert(th, target);             /* target goes last */
            switchto = source->next;
        }
        else if (channel_preference(self) == -dir) {
            /* target runs now, the source right after it */
            th->current = source->next;
            slp_rq_insert(th, target);
            th->current = source;
            runflags = RF_NO_SOFT_IRQ;
        }
        else {
            slp_rq_insert(th, target);
            switchto = source;
            runflags = RF_NO_SOFT_IRQ;
        }
    }
    th->runflags |= runflags;
    fail = slp_schedule_task(th, result, source, switchto, NULL);
    if (fail) {
        th->runflags = oldflags;
        if (!interthread) {
            if (target->next != NULL)
                slp_rq_remove_task(th, target);
            th->current = source;
        }
        slp_channel_insert(self, target, -dir);
        tmp = source->tempval;
        source->tempval = target->tempval;
        target->tempval = tmp;
    }
    else if (interthread)
        Py_DECREF(target);      /* the queue of its thread holds its own reference */
    return fail;
}

static int
channel_block(SlpThread *th, PyObject **result, Channel *self, int dir)
{
    Tasklet *source = th->current;
    int fail;

    if (source->flags & TF_BLOCK_TRAP)
        RUNTIME_ERROR("this tasklet does not like to be blocked.", -1);
    if (self->flags & CF_CLOSING) {
        PyErr_SetString(PyExc_ValueError, "Send/receive operation on a closed channel");
        return -1;
    }
    slp_rq_remove(th);
    slp_channel_insert(self, source, dir);        /* the queue's ref moves here */
    fail = slp_schedule_task(th, result, source, th->current, NULL);
    if (fail) {
        if (source->flags & TF_BLOCKED) {
            slp_channel_remove(self, source, NULL);
            slp_rq_unremove(th, source);
        }
    }
    return fail;
}

/*
 * The common cases of a send/receive, each in a function of its own with few
 * live values (channel_action tail-calls them): no channel callback, not
 * inside a callback, the partner (if any) in this thread.  A blocking
 * operation's frame stays on the tasklet's C stack while it waits, and is
 * copied at each switch, so it is kept small.  Same behaviour as
 * channel_action_general below.
 */
static __attribute__((noinline)) PyObject *
channel_block_fast(SlpThread *th, Channel *self, PyObject *arg, int dir)
{
    Tasklet *source = th->current;
    PyObject *tmpval, *retval = NULL;

    if (source->flags & TF_BLOCK_TRAP)
        RUNTIME_ERROR("this tasklet does not like to be blocked.", NULL);
    if (self->flags & CF_CLOSING) {
        PyErr_SetString(PyExc_ValueError, "Send/receive operation on a closed channel");
        return NULL;
    }
    tmpval = source->tempval;
    Py_INCREF(arg);
    source->tempval = arg;
    slp_rq_remove(th);
    slp_channel_insert(self, source, dir);        /* the queue's ref moves here */
    if (SLP_UNLIKELY(slp_schedule_task(th, &retval, source, th->current, NULL) < 0)) {
        PyObject *v;
        if (source->flags & TF_BLOCKED) {
            slp_channel_remove(self, source, NULL);
            slp_rq_unremove(th, source);
        }
        v = source->tempval;
        source->tempval = tmpval;
        Py_XDECREF(v);
        return NULL;
    }
    Py_XDECREF(tmpval);
    return retval;
}

static __attribute__((noinline)) PyObject *
channel_cando_fast(SlpThread *th, Channel *self, PyObject *arg, int dir)
{
    Tasklet *source = th->current;
    PyObject *tmpval, *retval = NULL;
    int fail;

    tmpval = source->tempval;
    Py_INCREF(arg);
    source->tempval = arg;
    fail = channel_cando(th, &retval, self, dir);
    if (SLP_UNLIKELY(fail)) {
        PyObject *v = source->tempval;
        source->tempval = tmpval;
        Py_XDECREF(v);
        return NULL;
    }
    Py_XDECREF(tmpval);
    return retval;
}

static PyObject *channel_action_general(SlpThread *th, Channel *self, PyObject *arg, int dir);

static PyObject *
channel_action(SlpThread *th, Channel *self, PyObject *arg, int dir)
{
    /* tail calls: this function leaves no frame on the stack */
    if (SLP_LIKELY(!th->schedlock && th->st->channel_hook == NULL)) {
        if (dir > 0 ? self->balance >= 0 : self->balance <= 0)
            return channel_block_fast(th, self, arg, dir);
        if (self->next->thread == th)
            return channel_cando_fast(th, self, arg, dir);
    }
    return channel_action_general(th, self, arg, dir);
}

SLP_COLD static PyObject *
channel_action_general(SlpThread *th, Channel *self, PyObject *arg, int dir)
{
    Tasklet *source = th->current;
    int cando = dir > 0 ? self->balance < 0 : self->balance > 0;
    int interthread = cando ? self->next->thread != th : 0;
    PyObject *tmpval, *retval = NULL;
    int fail;

    tmpval = source->tempval;
    Py_INCREF(arg);
    source->tempval = arg;
    if (!interthread && notify_channel(th, self, source, dir, cando) < 0) {
        source->tempval = tmpval;
        Py_DECREF(arg);
        return NULL;
    }
    /* the callback may have changed the channel */
    cando = dir > 0 ? self->balance < 0 : self->balance > 0;
    if (cando)
        fail = channel_cando(th, &retval, self, dir);
    else
        fail = channel_block(th, &retval, self, dir);
    if (fail) {
        PyObject *v = source->tempval;
        source->tempval = tmpval;
        Py_XDECREF(v);
        return NULL;
    }
    Py_XDECREF(tmpval);
    if (interthread)
        notify_channel(th, self, source, dir, cando);
    return retval;
}

PyDoc_STRVAR(send_doc,
"send(value)\n\n"
"Send a value over the channel.  If no tasklet is receiving, the sender\n"
"blocks.  Otherwise the receiver resumes (with the default preference -1 at\n"
"once, the sender becoming runnable).");

static PyObject *
channel_send(PyObject *self, PyObject *arg)
{
    SlpThread *th = thread_for(self);
    if (th == NULL)
        return NULL;
    return channel_action(th, (Channel *)self, arg, 1);
}

PyDoc_STRVAR(receive_doc,
"receive()\n\n"
"Receive a value over the channel; blocks while no tasklet is sending.");

static PyObject *
channel_receive(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    SlpThread *th = thread_for(self);
    if (th == NULL)
        return NULL;
    return channel_action(th, (Channel *)self, Py_None, -1);
}

PyDoc_STRVAR(send_exception_doc,
"send_exception(exc_class, *args)\n\n"
"Like send(), but the receiver raises exc_class(*args).");

static PyObject *
channel_send_exception(PyObject *self, PyObject *args)
{
    SlpThread *th;
    PyObject *klass, *rest, *bomb, *r;
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "send_exception() takes at least 1 argument");
        return NULL;
    }
    th = thread_for(self);
    if (th == NULL)
        return NULL;
    klass = PyTuple_GET_ITEM(args, 0);
    rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (rest == NULL)
        return NULL;
    bomb = slp_make_bomb(th->st, klass, rest, "channel.send_exception");
    Py_DECREF(rest);
    if (bomb == NULL)
        return NULL;
    r = channel_action(th, (Channel *)self, bomb, 1);
    Py_DECREF(bomb);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(send_throw_doc,
"send_throw(exc, val=None, tb=None)\n\n"
"Like send(), but the receiver raises the exception (raise statement rules).");

static PyObject *
channel_send_throw(PyObject *self, PyObject *args)
{
    SlpThread *th;
    PyObject *typ, *val = Py_None, *tb = Py_None, *bomb, *r;
    if (!PyArg_UnpackTuple(args, "send_throw", 1, 3, &typ, &val, &tb))
        return NULL;
    th = thread_for(self);
    if (th == NULL)
        return NULL;
    bomb = slp_exc_to_bomb(th->st, typ, val, tb);
    if (bomb == NULL)
        return NULL;
    r = channel_action(th, (Channel *)self, bomb, 1);
    Py_DECREF(bomb);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(send_sequence_doc,
"send_sequence(seq) -> count\n\nSend every item of an iterable; returns how many were sent.");

static PyObject *
channel_send_sequence(PyObject *self, PyObject *seq)
{
    SlpThread *th = thread_for(self);
    PyObject *it, *item, *r;
    Py_ssize_t i = 0;
    if (th == NULL)
        return NULL;
    it = PyObject_GetIter(seq);
    if (it == NULL)
        return NULL;
    while ((item = PyIter_Next(it)) != NULL) {
        th = slp_thread_current();
        r = channel_action(th, (Channel *)self, item, 1);
        Py_DECREF(item);
        if (r == NULL) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(r);
        i++;
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(i);
}

static PyObject *
channel_iternext(PyObject *self)
{
    Channel *ch = (Channel *)self;
    SlpThread *th;
    if ((ch->flags & CF_CLOSING) && ch->balance <= 0) {
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    th = thread_for(self);
    if (th == NULL)
        return NULL;
    return channel_action(th, ch, Py_None, -1);
}

PyDoc_STRVAR(close_doc,
"close()\n\nStop the channel from accepting new blocked tasklets (closing); once\n"
"empty, it is closed.");

static PyObject *
channel_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    ((Channel *)self)->flags |= CF_CLOSING;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(open_doc, "open()\n\nReopen a closed channel.");

static PyObject *
channel_open(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    ((Channel *)self)->flags &= ~CF_CLOSING;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Pickling                                                             */
/* ------------------------------------------------------------------ */

static unsigned int
flags_public(Channel *ch)
{
    return ch->flags & (CF_CLOSING | CF_SCHEDULE_ALL | CF_PREF_MASK);
}

static PyObject *
channel_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Channel *ch = (Channel *)self;
    PyObject *lis = PyList_New(0), *r;
    Tasklet *t;
    if (lis == NULL)
        return NULL;
    for (t = ch->next; t != CHANNEL_AS_NODE(ch); t = t->next) {
        if (PyList_Append(lis, (PyObject *)t) < 0) {
            Py_DECREF(lis);
            return NULL;
        }
    }
    r = Py_BuildValue("(O()(iIO))", Py_TYPE(ch), (int)ch->balance, flags_public(ch), lis);
    Py_DECREF(lis);
    return r;
}

static void channel_clear_queue(Channel *ch);

static PyObject *
channel_setstate(PyObject *self, PyObject *state)
{
    Channel *ch = (Channel *)self;
    int balance;
    unsigned int flags;
    PyObject *lis;
    Py_ssize_t i, n;
    int dir;
    if (!PyArg_ParseTuple(state, "iIO!:channel", &balance, &flags, &PyList_Type, &lis))
        return NULL;
    channel_clear_queue(ch);
    ch->flags = CF_IS_CHANNEL | (flags & (CF_CLOSING | CF_SCHEDULE_ALL | CF_PREF_MASK));
    if ((ch->flags & CF_PREF_MASK) == CF_PREF_MASK)
        ch->flags &= ~CF_PREF_MASK;    /* invalid encoding: back to -1 */
    dir = balance > 0 ? 1 : -1;
    n = PyList_GET_SIZE(lis);
    for (i = 0; i < n; i++) {
        Tasklet *t = (Tasklet *)PyList_GET_ITEM(lis, i);
        SlpThread *th = slp_thread_current();
        if (th != NULL && slp_is_tasklet(th->st, (PyObject *)t) && !(t->flags & TF_BLOCKED) &&
            t->next == NULL) {
            Py_INCREF(t);
            slp_channel_insert(ch, t, dir);
        }
    }
    Py_INCREF(self);
    return self;
}

/* ------------------------------------------------------------------ */
/* Attributes                                                           */
/* ------------------------------------------------------------------ */

static PyObject *
get_balance(Channel *ch, void *c)
{
    (void)c;
    return PyLong_FromLong(ch->balance);
}

static PyObject *
get_closing(Channel *ch, void *c)
{
    (void)c;
    return PyBool_FromLong((ch->flags & CF_CLOSING) != 0);
}

static PyObject *
get_closed(Channel *ch, void *c)
{
    (void)c;
    return PyBool_FromLong((ch->flags & CF_CLOSING) && ch->balance == 0);
}

static PyObject *
get_preference(Channel *ch, void *c)
{
    (void)c;
    return PyLong_FromLong(channel_preference(ch));
}

static int
set_preference(Channel *ch, PyObject *v, void *c)
{
    long val;
    (void)c;
    if (v == NULL || !PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "preference must be set to an integer");
        return -1;
    }
    val = PyLong_AsLong(v);
    if (val == -1 && PyErr_Occurred()) {
        /* out of range: only the sign matters */
        PyObject *zero = PyLong_FromLong(0);
        PyErr_Clear();
        if (zero == NULL)
            return -1;
        val = PyObject_RichCompareBool(v, zero, Py_GT) ? 1 : -1;
        Py_DECREF(zero);
    }
    val = val > 0 ? 1 : val < 0 ? -1 : 0;
    ch->flags = (ch->flags & ~CF_PREF_MASK) | ((uint32_t)(val + 1) << CF_PREF_SHIFT);
    return 0;
}

static PyObject *
get_schedule_all(Channel *ch, void *c)
{
    (void)c;
    return PyLong_FromLong((ch->flags & CF_SCHEDULE_ALL) != 0);
}

static int
set_schedule_all(Channel *ch, PyObject *v, void *c)
{
    (void)c;
    if (v == NULL || !PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "preference must be set to a bool or integer");
        return -1;
    }
    if (PyObject_IsTrue(v))
        ch->flags |= CF_SCHEDULE_ALL;
    else
        ch->flags &= ~CF_SCHEDULE_ALL;
    return 0;
}

static PyObject *
get_queue(Channel *ch, void *c)
{
    PyObject *r = ch->balance ? (PyObject *)ch->next : Py_None;
    (void)c;
    Py_INCREF(r);
    return r;
}

static PyGetSetDef channel_getset[] = {
    {"balance", (getter)get_balance, NULL,
     "the number of tasklets waiting to send (>0) or receive (<0).", NULL},
    {"closing", (getter)get_closing, NULL, "True when close was called.", NULL},
    {"closed", (getter)get_closed, NULL, "True when close was called and the channel is empty.", NULL},
    {"preference", (getter)get_preference, (setter)set_preference,
     "-1: prefer the receiver (default), 1: prefer the sender, 0: neither.", NULL},
    {"schedule_all", (getter)get_schedule_all, (setter)set_schedule_all,
     "schedule to the next runnable tasklet on every channel action.", NULL},
    {"queue", (getter)get_queue, NULL, "the first blocked tasklet (the rest via .next), or None.", NULL},
    {NULL, 0, 0, 0, NULL}
};

/* ------------------------------------------------------------------ */
/* Type                                                                 */
/* ------------------------------------------------------------------ */

static PyObject *
channel_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Channel *ch;
    /* Arguments are accepted and ignored, as Stackless' channel_new does
     * (so subclasses may take their own in __init__). */
    (void)args;
    (void)kwds;
    ch = (Channel *)type->tp_alloc(type, 0);
    if (ch == NULL)
        return NULL;
    ch->next = ch->prev = CHANNEL_AS_NODE(ch);
    ch->flags = CF_IS_CHANNEL;     /* preference -1 encodes as 0 */
    ch->balance = 0;
    return (PyObject *)ch;
}

static int
channel_traverse(Channel *ch, visitproc visit, void *arg)
{
    Tasklet *t;
    Py_VISIT(Py_TYPE(ch));
    for (t = ch->next; t != CHANNEL_AS_NODE(ch); t = t->next)
        Py_VISIT(t);
    return 0;
}

/* Unblock every tasklet (they become paused) and drop the references. */
static void
channel_clear_queue(Channel *ch)
{
    while (ch->balance != 0) {
        Tasklet *t = slp_channel_remove(ch, NULL, NULL);
        Py_DECREF(t);
    }
}

static int
channel_clear(Channel *ch)
{
    ch->flags |= CF_CLOSING;
    channel_clear_queue(ch);
    return 0;
}

static void
channel_dealloc(Channel *ch)
{
    PyTypeObject *tp = Py_TYPE(ch);
    PyObject_GC_UnTrack(ch);
    if (ch->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)ch);
    channel_clear(ch);
    tp->tp_free((PyObject *)ch);
    Py_DECREF(tp);
}

static PyMethodDef channel_methods[] = {
    {"send", channel_send, METH_O, send_doc},
    {"receive", channel_receive, METH_NOARGS, receive_doc},
    {"send_exception", channel_send_exception, METH_VARARGS, send_exception_doc},
    {"send_throw", channel_send_throw, METH_VARARGS, send_throw_doc},
    {"send_sequence", channel_send_sequence, METH_O, send_sequence_doc},
    {"close", channel_close, METH_NOARGS, close_doc},
    {"open", channel_open, METH_NOARGS, open_doc},
    {"__reduce__", channel_reduce, METH_NOARGS, NULL},
    {"__reduce_ex__", (PyCFunction)channel_reduce, METH_O, NULL},
    {"__setstate__", channel_setstate, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef channel_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Channel, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}
};

PyDoc_STRVAR(channel_doc,
"channel()\n\nA channel: tasklets send and receive values over it, blocking until\n"
"a partner arrives.");

static PyType_Slot channel_slots[] = {
    {Py_tp_new, channel_new},
    {Py_tp_dealloc, channel_dealloc},
    {Py_tp_traverse, channel_traverse},
    {Py_tp_clear, channel_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, channel_iternext},
    {Py_tp_methods, channel_methods},
    {Py_tp_members, channel_members},
    {Py_tp_getset, channel_getset},
    {Py_tp_doc, (void *)channel_doc},
    {0, NULL}
};

PyType_Spec slp_channel_spec = {
    .name = "stackless.channel",
    .basicsize = sizeof(Channel),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = channel_slots,
};
