/* module.c - _evemu_marshal: module state, loads()/dumps(), type registration, zlib glue.
 *
 * The model types written in Python (Token, Instance, ObjectEx1/2, SubStream, SubStruct, Buffer;
 * evemu/wire/marshal.py) are handed to this module once by _register_types(); the C types
 * (DBRowDescriptor, PackedRow) and MarshalError live here.  zlib is CPython's own zlib module,
 * used through its Python API, so the extension links nothing.
 */
#include "marshal.h"

#define DEFAULT_MAX_DEPTH 200
/* decode_object / encode_object recurse on the C stack (~100-200 bytes a level): a caller's
 * max_depth is capped so that hostile nesting raises instead of overflowing the stack */
#define MAX_DEPTH_LIMIT 10000
#define DEFAULT_MAX_SIZE (64 * 1024 * 1024)
#define DEFAULT_COMPRESS_THRESHOLD 8192

MarshalState *
evm_state_from_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &evm_module_def);
    if (m == NULL)
        return NULL;
    return evm_state(m);
}

PyObject *
evm_error(MarshalState *st, Py_ssize_t offset, const char *fmt, ...)
{
    va_list vargs;
    va_start(vargs, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, vargs);
    va_end(vargs);
    if (msg == NULL)
        return NULL;
    if (offset >= 0) {
        PyObject *full = PyUnicode_FromFormat("%U (at offset %zd)", msg, offset);
        Py_DECREF(msg);
        if (full == NULL)
            return NULL;
        msg = full;
    }
    PyObject *exc = PyObject_CallOneArg(st->MarshalError, msg);
    Py_DECREF(msg);
    if (exc == NULL)
        return NULL;
    PyObject *off = offset >= 0 ? PyLong_FromSsize_t(offset) : Py_NewRef(Py_None);
    if (off == NULL || PyObject_SetAttrString(exc, "offset", off) < 0) {
        Py_XDECREF(off);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(off);
    PyErr_SetObject(st->MarshalError, exc);
    Py_DECREF(exc);
    return NULL;
}

static int
check_registered(MarshalState *st)
{
    if (st->Token == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "_evemu_marshal: model types not registered "
                        "(import evemu.wire.marshal, not the C module)");
        return -1;
    }
    return 0;
}

/* Inflate a zlib stream with an output cap: zlib.decompressobj().decompress(data, cap + 1).
 * Returns a new bytes object or NULL with MarshalError (bad data, bomb, truncation). */
static PyObject *
inflate(MarshalState *st, PyObject *data, Py_ssize_t max_size)
{
    PyObject *d = NULL, *out = NULL, *flag = NULL, *unused = NULL;
    d = PyObject_CallNoArgs(st->zlib_decompressobj);
    if (d == NULL)
        return NULL;
    PyObject *cap = PyLong_FromSsize_t(max_size < PY_SSIZE_T_MAX ? max_size + 1 : max_size);
    if (cap == NULL)
        goto fail;
    out = PyObject_CallMethodObjArgs(d, st->str_decompress, data, cap, NULL);
    Py_DECREF(cap);
    if (out == NULL) {
        if (PyErr_ExceptionMatches(PyExc_MemoryError))
            goto fail;
        PyObject *exc = evm_fetch_exception();
        PyObject *msg = exc ? PyObject_Str(exc) : NULL;
        Py_XDECREF(exc);
        if (msg == NULL) {
            PyErr_Clear();
            evm_error(st, 0, "invalid zlib data");
        }
        else {
            evm_error(st, 0, "invalid zlib data: %U", msg);
            Py_DECREF(msg);
        }
        goto fail;
    }
    if (!PyBytes_Check(out))
        goto fail_type;
    if (PyBytes_GET_SIZE(out) > max_size) {
        evm_error(st, 0, "zlib stream inflates past the %zd-byte limit", max_size);
        goto fail;
    }
    flag = PyObject_GetAttr(d, st->str_eof);
    if (flag == NULL)
        goto fail;
    if (!PyObject_IsTrue(flag)) {
        evm_error(st, PyBytes_GET_SIZE(data), "truncated zlib stream");
        goto fail;
    }
    unused = PyObject_GetAttr(d, st->str_unused_data);
    if (unused == NULL)
        goto fail;
    if (PyBytes_Check(unused) && PyBytes_GET_SIZE(unused) > 0) {
        evm_error(st, PyBytes_GET_SIZE(data) - PyBytes_GET_SIZE(unused),
                  "%zd byte(s) of trailing data after the zlib stream",
                  PyBytes_GET_SIZE(unused));
        goto fail;
    }
    Py_DECREF(d);
    Py_DECREF(flag);
    Py_DECREF(unused);
    return out;
fail_type:
    PyErr_SetString(PyExc_TypeError, "zlib returned a non-bytes object");
fail:
    Py_XDECREF(d);
    Py_XDECREF(out);
    Py_XDECREF(flag);
    Py_XDECREF(unused);
    return NULL;
}

/* loads(data, *, max_depth=200, max_size=67108864, allow_trailing=False)
 * --
 * Decode one marshal stream (0x7E ...) or zlib-compressed stream (0x78 ...).  Releases
 * *view. */
static PyObject *
loads_impl(MarshalState *st, Py_buffer *view, int max_depth, Py_ssize_t max_size,
           int allow_trailing)
{
    PyObject *res = NULL;

    if (check_registered(st) < 0)
        goto done;
    if (max_depth < 1 || max_depth > MAX_DEPTH_LIMIT || max_size < 0) {
        PyErr_Format(PyExc_ValueError, "max_depth must be in 1..%d and max_size >= 0",
                     MAX_DEPTH_LIMIT);
        goto done;
    }
    const unsigned char *buf = (const unsigned char *)view->buf;
    if (view->len > 0 && buf[0] == ZLIB_HEADER) {
        PyObject *raw = PyBytes_FromStringAndSize((const char *)buf, view->len);
        if (raw == NULL)
            goto done;
        PyObject *inflated = inflate(st, raw, max_size);
        Py_DECREF(raw);
        if (inflated == NULL)
            goto done;
        res = evm_decode(st, (const unsigned char *)PyBytes_AS_STRING(inflated),
                         PyBytes_GET_SIZE(inflated), max_depth, max_size,
                         allow_trailing);
        Py_DECREF(inflated);
    }
    else {
        if (view->len > max_size) {
            evm_error(st, 0, "stream of %zd bytes exceeds the %zd-byte limit", view->len,
                      max_size);
            goto done;
        }
        res = evm_decode(st, buf, view->len, max_depth, max_size, allow_trailing);
    }
done:
    PyBuffer_Release(view);
    return res;
}

/* The general argument parsing of loads (every form, every error message). */
static PyObject *
marshal_loads_kw(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"data", "max_depth", "max_size", "allow_trailing", NULL};
    Py_buffer view;
    int max_depth = DEFAULT_MAX_DEPTH;
    Py_ssize_t max_size = DEFAULT_MAX_SIZE;
    int allow_trailing = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*|$inp:loads", kwlist, &view, &max_depth,
                                     &max_size, &allow_trailing))
        return NULL;
    return loads_impl(evm_state(module), &view, max_depth, max_size, allow_trailing);
}

/* A METH_FASTCALL call passed on to a METH_VARARGS | METH_KEYWORDS function: the positional args as a tuple, the keywords as a
 * dict, for fn's PyArg_ParseTupleAndKeywords. */
static PyObject *
call_parsed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
            PyObject *(*fn)(PyObject *, PyObject *, PyObject *))
{
    PyObject *tuple = PyTuple_New(nargs), *kw = NULL, *res = NULL;
    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(tuple, i, args[i]);
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nkw > 0) {
        kw = PyDict_New();
        if (kw == NULL)
            goto done;
        for (Py_ssize_t i = 0; i < nkw; i++)
            if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
                goto done;
    }
    res = fn(module, tuple, kw);
done:
    Py_XDECREF(kw);
    Py_DECREF(tuple);
    return res;
}

/* loads as METH_FASTCALL: the server calls it once or twice per request, as loads(data) or
 * loads(data, max_size=n), and PyArg_ParseTupleAndKeywords (with the tuple and dict built
 * for it) cost more than decoding a small packet.  Those two forms are taken here; anything
 * else (and anything these checks do not like) goes through marshal_loads_kw, which gives
 * the same result or error as before. */
static PyObject *
marshal_loads(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t max_size = DEFAULT_MAX_SIZE;
    Py_buffer view;

    if (nargs != 1)
        goto general;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        if (PyTuple_GET_SIZE(kwnames) != 1 || !PyLong_CheckExact(args[1]) ||
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "max_size") != 0)
            goto general;
        max_size = PyLong_AsSsize_t(args[1]);
        if (max_size == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto general;
        }
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        goto general;
    }
    return loads_impl(evm_state(module), &view, DEFAULT_MAX_DEPTH, max_size, 0);
general:
    return call_parsed(module, args, nargs, kwnames, marshal_loads_kw);
}

/* dumps(obj, compress_threshold=8192, *, max_depth=200)
 * --
 * Encode obj as one marshal stream; zlib-compress it when it is at least compress_threshold
 * bytes long (None: never). */
static PyObject *
dumps_impl(MarshalState *st, PyObject *obj, PyObject *threshold_obj, int max_depth)
{
    Py_ssize_t threshold = DEFAULT_COMPRESS_THRESHOLD;

    if (check_registered(st) < 0)
        return NULL;
    if (threshold_obj == Py_None)
        threshold = -1;
    else if (threshold_obj != NULL) {
        threshold = PyLong_AsSsize_t(threshold_obj);
        if (threshold == -1 && PyErr_Occurred())
            return NULL;
        if (threshold < 0) {
            PyErr_SetString(PyExc_ValueError, "compress_threshold must be >= 0 or None");
            return NULL;
        }
    }
    if (max_depth < 1 || max_depth > MAX_DEPTH_LIMIT) {
        PyErr_Format(PyExc_ValueError, "max_depth must be in 1..%d", MAX_DEPTH_LIMIT);
        return NULL;
    }
    PyObject *data = evm_encode(st, obj, max_depth);
    if (data == NULL || threshold < 0 || PyBytes_GET_SIZE(data) < threshold)
        return data;
    PyObject *z = PyObject_CallOneArg(st->zlib_compress, data);
    Py_DECREF(data);
    return z;
}

/* The general argument parsing of dumps (every form, every error message). */
static PyObject *
marshal_dumps_kw(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"obj", "compress_threshold", "max_depth", NULL};
    PyObject *obj, *threshold_obj = NULL;
    int max_depth = DEFAULT_MAX_DEPTH;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$i:dumps", kwlist, &obj, &threshold_obj,
                                     &max_depth))
        return NULL;
    return dumps_impl(evm_state(module), obj, threshold_obj, max_depth);
}

/* dumps as METH_FASTCALL: dumps(obj) and dumps(obj, threshold) (twice per request in the
 * server) without building an args tuple and parsing it; keywords take the general path. */
static PyObject *
marshal_dumps(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if ((kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && (nargs == 1 || nargs == 2))
        return dumps_impl(evm_state(module), args[0], nargs == 2 ? args[1] : NULL,
                          DEFAULT_MAX_DEPTH);
    return call_parsed(module, args, nargs, kwnames, marshal_dumps_kw);
}

PyObject *
evm_new_instance(MarshalState *st, PyObject *name, PyObject *state)
{
    if (st->inst_name_slot == NULL)
        return PyObject_CallFunctionObjArgs(st->Instance, name, state, NULL);
    PyTypeObject *tp = (PyTypeObject *)st->Instance;
    PyObject *o = tp->tp_alloc(tp, 0);
    if (o == NULL)
        return NULL;
    if (Py_TYPE(st->inst_name_slot)->tp_descr_set(st->inst_name_slot, o, name) < 0 ||
        Py_TYPE(st->inst_state_slot)->tp_descr_set(st->inst_state_slot, o, state) < 0) {
        Py_DECREF(o);
        return NULL;
    }
    return o;
}

PyObject *
evm_new_substream(MarshalState *st, PyObject *raw)
{
    if (st->ss_raw_slot == NULL)
        return PyObject_CallOneArg(st->substream_from_raw, raw);
    PyTypeObject *tp = (PyTypeObject *)st->SubStream;
    PyObject *o = tp->tp_alloc(tp, 0);
    if (o == NULL)
        return NULL;
    if (Py_TYPE(st->ss_raw_slot)->tp_descr_set(st->ss_raw_slot, o, raw) < 0 ||
        Py_TYPE(st->ss_value_slot)->tp_descr_set(st->ss_value_slot, o, st->ss_missing) < 0) {
        Py_DECREF(o);
        return NULL;
    }
    return o;
}

/* _register_types(Token, Instance, ObjectEx1, ObjectEx2, SubStream, SubStruct, Buffer)
 * --
 * Called once by evemu.wire.marshal with its model classes. */
static PyObject *
marshal_register_types(PyObject *module, PyObject *args)
{
    MarshalState *st = evm_state(module);
    PyObject *tok, *inst, *ox1, *ox2, *ss, *sst, *buf;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!:_register_types", &PyType_Type, &tok,
                          &PyType_Type, &inst, &PyType_Type, &ox1, &PyType_Type, &ox2,
                          &PyType_Type, &ss, &PyType_Type, &sst, &PyType_Type, &buf))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)buf, &PyBytes_Type)) {
        PyErr_SetString(PyExc_TypeError, "Buffer must be a bytes subclass");
        return NULL;
    }
    PyObject *from_raw = PyObject_GetAttrString(ss, "_from_raw");
    if (from_raw == NULL)
        return NULL;
    Py_XSETREF(st->Token, Py_NewRef(tok));
    Py_XSETREF(st->Instance, Py_NewRef(inst));
    Py_XSETREF(st->ObjectEx1, Py_NewRef(ox1));
    Py_XSETREF(st->ObjectEx2, Py_NewRef(ox2));
    Py_XSETREF(st->SubStream, Py_NewRef(ss));
    Py_XSETREF(st->SubStruct, Py_NewRef(sst));
    Py_XSETREF(st->Buffer, Py_NewRef(buf));
    Py_XSETREF(st->substream_from_raw, from_raw);
    /* The fast Instance constructor needs a plain class whose `name` and `state` are slots. */
    Py_CLEAR(st->inst_name_slot);
    Py_CLEAR(st->inst_state_slot);
    PyObject *dict = ((PyTypeObject *)inst)->tp_dict;
    PyObject *n = dict ? PyDict_GetItemString(dict, "name") : NULL;      /* borrowed */
    PyObject *sv = dict ? PyDict_GetItemString(dict, "state") : NULL;
    if (n != NULL && sv != NULL && Py_IS_TYPE(n, &PyMemberDescr_Type) &&
        Py_IS_TYPE(sv, &PyMemberDescr_Type) &&
        ((PyTypeObject *)inst)->tp_new == PyBaseObject_Type.tp_new) {
        st->inst_name_slot = Py_NewRef(n);
        st->inst_state_slot = Py_NewRef(sv);
    }
    Py_CLEAR(st->ss_raw_slot);
    Py_CLEAR(st->ss_value_slot);
    Py_CLEAR(st->ss_missing);
    dict = ((PyTypeObject *)ss)->tp_dict;
    n = dict ? PyDict_GetItemString(dict, "_raw") : NULL;               /* borrowed */
    sv = dict ? PyDict_GetItemString(dict, "_value") : NULL;
    PyObject *missing = dict ? PyDict_GetItemString(dict, "_MISSING") : NULL;
    if (n != NULL && sv != NULL && missing != NULL && Py_IS_TYPE(n, &PyMemberDescr_Type) &&
        Py_IS_TYPE(sv, &PyMemberDescr_Type) &&
        ((PyTypeObject *)ss)->tp_new == PyBaseObject_Type.tp_new) {
        st->ss_raw_slot = Py_NewRef(n);
        st->ss_value_slot = Py_NewRef(sv);
        st->ss_missing = Py_NewRef(missing);
    }
    Py_RETURN_NONE;
}

/* _instance(name, state): Instance(name, state) without running Instance.__init__ when the
 * name is an ASCII str (what __init__ would accept unchanged); otherwise the class is called
 * (and validates).  MachoNet builds three Instances per packet. */
static PyObject *
marshal_instance(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    MarshalState *st = evm_state(module);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_instance(name, state) takes 2 arguments");
        return NULL;
    }
    if (check_registered(st) < 0)
        return NULL;
    if (PyUnicode_CheckExact(args[0]) && PyUnicode_IS_ASCII(args[0]))
        return evm_new_instance(st, args[0], args[1]);
    return PyObject_CallFunctionObjArgs(st->Instance, args[0], args[1], NULL);
}

/* _substream(raw): SubStream.from_raw(raw) built in C when raw is exactly bytes. */
static PyObject *
marshal_substream(PyObject *module, PyObject *raw)
{
    MarshalState *st = evm_state(module);
    if (check_registered(st) < 0)
        return NULL;
    if (PyBytes_CheckExact(raw))
        return evm_new_substream(st, raw);
    return PyObject_CallOneArg(st->substream_from_raw, raw);
}

/* _rle_pack(data) / _rle_unpack(packed, length): the zero-nibble RLE, exposed for tests. */
static PyObject *
marshal_rle_pack(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = NULL;
    unsigned char *tmp = PyMem_Malloc((size_t)evm_rle_bound(v.len));
    if (tmp == NULL)
        PyErr_NoMemory();
    else {
        Py_ssize_t n = evm_rle_pack(v.buf, v.len, tmp);
        out = PyBytes_FromStringAndSize((const char *)tmp, n);
        PyMem_Free(tmp);
    }
    PyBuffer_Release(&v);
    return out;
}

static PyObject *
marshal_rle_unpack(PyObject *module, PyObject *args)
{
    Py_buffer v;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*n:_rle_unpack", &v, &n))
        return NULL;
    PyObject *out = NULL;
    if (n < 0)
        PyErr_SetString(PyExc_ValueError, "negative length");
    else if ((out = PyBytes_FromStringAndSize(NULL, n)) != NULL) {
        memset(PyBytes_AS_STRING(out), 0, n);
        Py_ssize_t bad;
        if (evm_rle_unpack(v.buf, v.len, (unsigned char *)PyBytes_AS_STRING(out), n,
                           &bad) < 0) {
            Py_CLEAR(out);
            evm_error(evm_state(module), bad, "Invalid RLE string: a run past the %zd-byte row",
                      n);
        }
    }
    PyBuffer_Release(&v);
    return out;
}

static PyMethodDef marshal_methods[] = {
    {"loads", (PyCFunction)(void (*)(void))marshal_loads, METH_FASTCALL | METH_KEYWORDS,
     "loads(data, *, max_depth=200, max_size=67108864, allow_trailing=False)\n--\n\n"
     "Decode one EVE marshal stream (0x7E...) or a zlib-compressed one (0x78...).\n"
     "Raises MarshalError (a ValueError) with .offset on any malformed input;\n"
     "allow_trailing=True ignores bytes between the root object and the slot map."},
    {"dumps", (PyCFunction)(void (*)(void))marshal_dumps, METH_FASTCALL | METH_KEYWORDS,
     "dumps(obj, compress_threshold=8192, *, max_depth=200)\n--\n\n"
     "Encode obj as an EVE marshal stream, zlib-compressed when at least\n"
     "compress_threshold bytes long (None: never compress)."},
    {"_register_types", marshal_register_types, METH_VARARGS, NULL},
    {"_rle_pack", marshal_rle_pack, METH_O, NULL},
    {"_instance", (PyCFunction)(void (*)(void))marshal_instance, METH_FASTCALL, NULL},
    {"_substream", marshal_substream, METH_O, NULL},
    {"_rle_unpack", marshal_rle_unpack, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* ---------------------------------------------------------------------------------------- */
/* Module setup                                                                               */
/* ---------------------------------------------------------------------------------------- */

static int
marshal_exec(PyObject *module)
{
    MarshalState *st = evm_state(module);

    st->MarshalError = PyErr_NewExceptionWithDoc(
        "evemu.wire.marshal.MarshalError",
        "Malformed marshal data.  A ValueError; .offset is the byte offset in the\n"
        "(inflated) stream where decoding failed, or None.",
        PyExc_ValueError, NULL);
    if (st->MarshalError == NULL || PyModule_AddObjectRef(module, "MarshalError",
                                                          st->MarshalError) < 0)
        return -1;
    if (evm_packedrow_init_types(module, st) < 0)
        return -1;

    st->strtable = PyTuple_New(EVM_STRING_TABLE_SIZE + 1);
    st->strtable_index = PyDict_New();
    if (st->strtable == NULL || st->strtable_index == NULL)
        return -1;
    PyTuple_SET_ITEM(st->strtable, 0, Py_NewRef(Py_None));
    for (int i = 1; i <= EVM_STRING_TABLE_SIZE; i++) {
        PyObject *b = PyBytes_FromString(evm_string_table[i]);
        PyObject *idx = PyLong_FromLong(i);
        if (b == NULL || idx == NULL || PyDict_SetItem(st->strtable_index, b, idx) < 0) {
            Py_XDECREF(b);
            Py_XDECREF(idx);
            return -1;
        }
        Py_DECREF(idx);
        PyTuple_SET_ITEM(st->strtable, i, b);
    }
    if (PyModule_AddObjectRef(module, "STRING_TABLE", st->strtable) < 0)
        return -1;

    PyObject *zlib = PyImport_ImportModule("zlib");
    if (zlib == NULL)
        return -1;
    st->zlib_decompressobj = PyObject_GetAttrString(zlib, "decompressobj");
    st->zlib_compress = PyObject_GetAttrString(zlib, "compress");
    Py_DECREF(zlib);
    if (st->zlib_decompressobj == NULL || st->zlib_compress == NULL)
        return -1;

#define INTERN(field, text) \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) return -1;
    INTERN(str_name, "name");
    INTERN(str_state, "state");
    INTERN(str_header, "header");
    INTERN(str_list, "list");
    INTERN(str_dict, "dict");
    INTERN(str_value, "value");
    INTERN(str_raw, "raw");
    INTERN(str_eof, "eof");
    INTERN(str_unused_data, "unused_data");
    INTERN(str_blue_descriptor, "blue.DBRowDescriptor");
    INTERN(str_decompress, "decompress");
    INTERN(str_little, "little");
#undef INTERN
    PyObject *long_type = (PyObject *)&PyLong_Type;
    if ((st->long_bit_length = PyObject_GetAttrString(long_type, "bit_length")) == NULL
        || (st->long_to_bytes = PyObject_GetAttrString(long_type, "to_bytes")) == NULL
        || (st->long_from_bytes = PyObject_GetAttrString(long_type, "from_bytes")) == NULL)
        return -1;
    PyObject *signed_name = PyUnicode_InternFromString("signed");
    if (signed_name == NULL)
        return -1;
    st->kwnames_signed = PyTuple_Pack(1, signed_name);
    Py_DECREF(signed_name);
    if (st->kwnames_signed == NULL)
        return -1;

    static const struct { const char *name; int code; } dbtypes[] = {
        {"DBTYPE_I2", DBTYPE_I2}, {"DBTYPE_I4", DBTYPE_I4}, {"DBTYPE_R4", DBTYPE_R4},
        {"DBTYPE_R8", DBTYPE_R8}, {"DBTYPE_CY", DBTYPE_CY}, {"DBTYPE_BOOL", DBTYPE_BOOL},
        {"DBTYPE_I1", DBTYPE_I1}, {"DBTYPE_UI1", DBTYPE_UI1}, {"DBTYPE_UI2", DBTYPE_UI2},
        {"DBTYPE_UI4", DBTYPE_UI4}, {"DBTYPE_I8", DBTYPE_I8}, {"DBTYPE_UI8", DBTYPE_UI8},
        {"DBTYPE_FILETIME", DBTYPE_FILETIME}, {"DBTYPE_BYTES", DBTYPE_BYTES},
        {"DBTYPE_STR", DBTYPE_STR}, {"DBTYPE_WSTR", DBTYPE_WSTR},
    };
    for (size_t i = 0; i < sizeof(dbtypes) / sizeof(dbtypes[0]); i++)
        if (PyModule_AddIntConstant(module, dbtypes[i].name, dbtypes[i].code) < 0)
            return -1;
    return 0;
}

static int
marshal_traverse(PyObject *module, visitproc visit, void *arg)
{
    MarshalState *st = evm_state(module);
    Py_VISIT(st->MarshalError);
    Py_VISIT(st->DescriptorType);
    Py_VISIT(st->PackedRowType);
    Py_VISIT(st->Token);
    Py_VISIT(st->Instance);
    Py_VISIT(st->ObjectEx1);
    Py_VISIT(st->ObjectEx2);
    Py_VISIT(st->SubStream);
    Py_VISIT(st->SubStruct);
    Py_VISIT(st->Buffer);
    Py_VISIT(st->substream_from_raw);
    Py_VISIT(st->inst_name_slot);
    Py_VISIT(st->inst_state_slot);
    Py_VISIT(st->ss_raw_slot);
    Py_VISIT(st->ss_value_slot);
    Py_VISIT(st->ss_missing);
    Py_VISIT(st->strtable);
    Py_VISIT(st->strtable_index);
    Py_VISIT(st->zlib_decompressobj);
    Py_VISIT(st->zlib_compress);
    Py_VISIT(st->long_bit_length);
    Py_VISIT(st->long_to_bytes);
    Py_VISIT(st->long_from_bytes);
    Py_VISIT(st->kwnames_signed);
    return 0;
}

static int
marshal_clear(PyObject *module)
{
    MarshalState *st = evm_state(module);
    Py_CLEAR(st->MarshalError);
    Py_CLEAR(st->DescriptorType);
    Py_CLEAR(st->PackedRowType);
    Py_CLEAR(st->Token);
    Py_CLEAR(st->Instance);
    Py_CLEAR(st->ObjectEx1);
    Py_CLEAR(st->ObjectEx2);
    Py_CLEAR(st->SubStream);
    Py_CLEAR(st->SubStruct);
    Py_CLEAR(st->Buffer);
    Py_CLEAR(st->substream_from_raw);
    Py_CLEAR(st->inst_name_slot);
    Py_CLEAR(st->inst_state_slot);
    Py_CLEAR(st->ss_raw_slot);
    Py_CLEAR(st->ss_value_slot);
    Py_CLEAR(st->ss_missing);
    Py_CLEAR(st->strtable);
    Py_CLEAR(st->strtable_index);
    Py_CLEAR(st->zlib_decompressobj);
    Py_CLEAR(st->zlib_compress);
    Py_CLEAR(st->str_name);
    Py_CLEAR(st->str_state);
    Py_CLEAR(st->str_header);
    Py_CLEAR(st->str_list);
    Py_CLEAR(st->str_dict);
    Py_CLEAR(st->str_value);
    Py_CLEAR(st->str_raw);
    Py_CLEAR(st->str_eof);
    Py_CLEAR(st->str_unused_data);
    Py_CLEAR(st->str_blue_descriptor);
    Py_CLEAR(st->str_decompress);
    Py_CLEAR(st->str_little);
    Py_CLEAR(st->long_bit_length);
    Py_CLEAR(st->long_to_bytes);
    Py_CLEAR(st->long_from_bytes);
    Py_CLEAR(st->kwnames_signed);
    return 0;
}

static void
marshal_free(void *module)
{
    marshal_clear((PyObject *)module);
}

static PyModuleDef_Slot marshal_slots[] = {
    {Py_mod_exec, marshal_exec},
    {0, NULL},
};

struct PyModuleDef evm_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_evemu_marshal",
    .m_doc = "C core of the EVE marshal codec; use evemu.marshal (evemu.wire.marshal).",
    .m_size = sizeof(MarshalState),
    .m_methods = marshal_methods,
    .m_slots = marshal_slots,
    .m_traverse = marshal_traverse,
    .m_clear = marshal_clear,
    .m_free = marshal_free,
};

PyMODINIT_FUNC
PyInit__evemu_marshal(void)
{
    return PyModuleDef_Init(&evm_module_def);
}
