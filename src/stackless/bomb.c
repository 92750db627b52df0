/*
 * bomb.c -- the bomb type: an exception in transit.
 *
 * Owns: stackless.bomb (a (type, value, traceback) triple that "explodes",
 * i.e. is raised, in the tasklet that receives it through tempval) and the
 * helpers that turn exceptions into bombs and back.
 */
#include "stackless_impl.h"

static Bomb *
bomb_alloc(slp_state *st)
{
    Bomb *b = PyObject_GC_New(Bomb, st->bomb_type);
    if (b == NULL)
        return NULL;
    b->type = b->value = b->traceback = NULL;
    PyObject_GC_Track(b);
    return b;
}

/* bomb(type=None, value=None, traceback=None) or bomb((type, value, tb)) */
static PyObject *
bomb_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"type", "value", "traceback", NULL};
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    Bomb *b;

    if (PyTuple_GET_SIZE(args) == 1 && PyTuple_Check(PyTuple_GET_ITEM(args, 0)))
        args = PyTuple_GET_ITEM(args, 0);
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:bomb", kwlist, &t, &v, &tb))
        return NULL;
    b = (Bomb *)type->tp_alloc(type, 0);
    if (b == NULL)
        return NULL;
    Py_XINCREF(t);
    Py_XINCREF(v);
    Py_XINCREF(tb);
    b->type = t;
    b->value = v;
    b->traceback = tb;
    return (PyObject *)b;
}

static int
bomb_traverse(Bomb *b, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(b));
    Py_VISIT(b->type);
    Py_VISIT(b->value);
    Py_VISIT(b->traceback);
    return 0;
}

static int
bomb_clear(Bomb *b)
{
    Py_CLEAR(b->type);
    Py_CLEAR(b->value);
    Py_CLEAR(b->traceback);
    return 0;
}

static void
bomb_dealloc(Bomb *b)
{
    PyTypeObject *tp = Py_TYPE(b);
    PyObject_GC_UnTrack(b);
    bomb_clear(b);
    tp->tp_free((PyObject *)b);
    Py_DECREF(tp);
}

static PyObject *
none_if_null(PyObject *o)
{
    return o ? o : Py_None;
}

/* __reduce__: (bomb, (), (type, value, traceback)) */
static PyObject *
bomb_reduce(Bomb *b, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(O()(OOO))", Py_TYPE(b), none_if_null(b->type),
                         none_if_null(b->value), none_if_null(b->traceback));
}

static PyObject *
bomb_setstate(Bomb *b, PyObject *state)
{
    PyObject *t, *v, *tb;
    if (!PyTuple_Check(state) || PyTuple_GET_SIZE(state) != 3) {
        PyErr_SetString(PyExc_ValueError, "bad exception tuple for bomb");
        return NULL;
    }
    t = PyTuple_GET_ITEM(state, 0);
    v = PyTuple_GET_ITEM(state, 1);
    tb = PyTuple_GET_ITEM(state, 2);
    bomb_clear(b);
    if (t != Py_None) { Py_INCREF(t); b->type = t; }
    if (v != Py_None) { Py_INCREF(v); b->value = v; }
    if (tb != Py_None) { Py_INCREF(tb); b->traceback = tb; }
    Py_RETURN_NONE;
}

static PyMethodDef bomb_methods[] = {
    {"__reduce__", (PyCFunction)bomb_reduce, METH_NOARGS, NULL},
    {"__setstate__", (PyCFunction)bomb_setstate, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef bomb_members[] = {
    {"type", T_OBJECT, offsetof(Bomb, type), READONLY, NULL},
    {"value", T_OBJECT, offsetof(Bomb, value), READONLY, NULL},
    {"traceback", T_OBJECT, offsetof(Bomb, traceback), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}
};

PyDoc_STRVAR(bomb_doc,
"bomb(type=None, value=None, traceback=None)\n\n"
"A bomb holds an exception in transit.  When a tasklet resumes and finds a\n"
"bomb in its tempval, the bomb explodes: its exception is raised there.");

static PyType_Slot bomb_slots[] = {
    {Py_tp_new, bomb_new},
    {Py_tp_dealloc, bomb_dealloc},
    {Py_tp_traverse, bomb_traverse},
    {Py_tp_clear, bomb_clear},
    {Py_tp_methods, bomb_methods},
    {Py_tp_members, bomb_members},
    {Py_tp_doc, (void *)bomb_doc},
    {0, NULL}
};

PyType_Spec slp_bomb_spec = {
    .name = "stackless.bomb",
    .basicsize = sizeof(Bomb),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = bomb_slots,
};

/* ------------------------------------------------------------------ */

/* A bomb for klass(*args) (send_exception / raise_exception). */
PyObject *
slp_make_bomb(slp_state *st, PyObject *klass, PyObject *args, const char *msg)
{
    Bomb *b;
    int r = PyObject_IsSubclass(klass, PyExc_BaseException);
    if (r < 0) {
        /* klass is not a class at all */
        PyErr_Clear();
        r = 0;
    }
    if (r == 0) {
        PyErr_Format(PyExc_TypeError,
                     "%.128s needs Exception or string subclass as first parameter", msg);
        return NULL;
    }
    b = bomb_alloc(st);
    if (b == NULL)
        return NULL;
    Py_INCREF(klass);
    b->type = klass;
    if (PyTuple_Check(args)) {
        Py_INCREF(args);
        b->value = args;
    }
    else {
        b->value = PyTuple_Pack(1, args);
        if (b->value == NULL) {
            Py_DECREF(b);
            return NULL;
        }
    }
    return (PyObject *)b;
}

/* A bomb following the rules of the raise statement (throw / send_throw). */
PyObject *
slp_exc_to_bomb(slp_state *st, PyObject *exc, PyObject *val, PyObject *tb)
{
    Bomb *b;
    if (tb == Py_None)
        tb = NULL;
    if (val == Py_None)
        val = NULL;
    if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError, "third argument must be a traceback object");
        return NULL;
    }
    if (PyExceptionClass_Check(exc)) {
        /* normalized when it explodes */
    }
    else if (PyExceptionInstance_Check(exc)) {
        if (val != NULL) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate value");
            return NULL;
        }
        val = exc;
        exc = PyExceptionInstance_Class(exc);
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes, or instances, not %s",
                     Py_TYPE(exc)->tp_name);
        return NULL;
    }
    b = bomb_alloc(st);
    if (b == NULL)
        return NULL;
    Py_INCREF(exc);
    Py_XINCREF(val);
    Py_XINCREF(tb);
    b->type = exc;
    b->value = val;
    b->traceback = tb;
    return (PyObject *)b;
}

/* The pending exception as a bomb (clears it).  Never returns NULL unless
 * even the bomb could not be allocated, in which case the error stays set. */
PyObject *
slp_curexc_to_bomb(slp_state *st)
{
    PyObject *t, *v, *tb;
    Bomb *b;
    PyErr_Fetch(&t, &v, &tb);
    b = bomb_alloc(st);
    if (b == NULL) {
        Py_XDECREF(t); Py_XDECREF(v); Py_XDECREF(tb);
        return NULL;
    }
    b->type = t;
    b->value = v;
    b->traceback = tb;
    return (PyObject *)b;
}

/* Raise the bomb's exception; consumes the reference; returns NULL. */
PyObject *
slp_bomb_explode(PyObject *bomb)
{
    Bomb *b = (Bomb *)bomb;
    PyObject *t = b->type, *v = b->value, *tb = b->traceback;
    if (t == NULL || t == Py_None) {
        Py_DECREF(bomb);
        PyErr_SetString(PyExc_TypeError, "exploding bomb without an exception type");
        return NULL;
    }
    if (PyExceptionInstance_Check(t)) {
        /* bomb(instance) built by hand */
        v = t;
        t = PyExceptionInstance_Class(t);
    }
    else if (!PyExceptionClass_Check(t)) {
        Py_DECREF(bomb);
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes, or instances, not %s", Py_TYPE(t)->tp_name);
        return NULL;
    }
    Py_INCREF(t);
    Py_XINCREF(v);
    if (tb == Py_None || (tb != NULL && !PyTraceBack_Check(tb)))
        tb = NULL;
    Py_XINCREF(tb);
    if (v == Py_None) {
        Py_DECREF(v);
        v = NULL;
    }
    Py_DECREF(bomb);
    PyErr_Restore(t, v, tb);
    return NULL;
}
