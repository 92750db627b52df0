/* encode.c - the marshal stream encoder: model objects -> bytes.
 *
 * Owns: the growable output buffer and encode_object().  Choices (eve-protocol.md 2.3):
 *   ints: -1/0/1 -> 0x07/0x08/0x09, int8 0x06, int16 0x05, int32 0x04, int64 0x03, wider 0x2F
 *   floats: +0.0 -> 0x0B (not -0.0), else 0x0A
 *   bytes: b'' 0x0E, 1 byte 0x0F, string-table entry 0x11, else 0x13
 *   str: '' 0x28, else UTF-8 0x2E (surrogates, if any, written one code point each)
 *   tuples 0x24/0x25/0x2C/0x14, lists 0x26/0x27/0x15, dicts 0x16 (value before key)
 *   DBRowDescriptor: saved (flag 0x40) on first use, later uses are 0x1B references, so the
 *   per-row descriptor of a rowset costs 2 bytes; nothing else is ever saved.
 * Hazards: a dict or list may be changed by code run while encoding (a SubStream's .raw
 * property, a str subclass...): items are held by strong references while encoded, and a size
 * change raises RuntimeError, as Python's own iteration does.
 */
#include "marshal.h"

#include <math.h>

typedef struct {
    MarshalState *st;
    unsigned char *buf;
    Py_ssize_t len, cap;
    int depth, max_depth;
    PyObject **saved;       /* strong refs to the descriptors saved so far; slot = index + 1 */
    Py_ssize_t nsaved, saved_cap;
} Encoder;

static int encode_object(Encoder *e, PyObject *o);

/* ---------------------------------------------------------------------------------------- */
/* Output buffer                                                                              */
/* ---------------------------------------------------------------------------------------- */

static int
grow(Encoder *e, Py_ssize_t n)
{
    Py_ssize_t cap = e->cap ? e->cap : 256;
    while (cap - e->len < n) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    unsigned char *b = PyMem_Realloc(e->buf, (size_t)cap);
    if (b == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    e->buf = b;
    e->cap = cap;
    return 0;
}

static inline int
ensure(Encoder *e, Py_ssize_t n)
{
    if (e->cap - e->len >= n)
        return 0;
    return grow(e, n);
}

static inline int
put_byte(Encoder *e, unsigned int b)
{
    if (ensure(e, 1) < 0)
        return -1;
    e->buf[e->len++] = (unsigned char)b;
    return 0;
}

static inline int
put_raw(Encoder *e, const void *p, Py_ssize_t n)
{
    if (ensure(e, n) < 0)
        return -1;
    memcpy(e->buf + e->len, p, (size_t)n);
    e->len += n;
    return 0;
}

/* sizeEx: one byte below 255, else 0xFF + u32. */
static inline int
put_size(Encoder *e, Py_ssize_t n)
{
    if (n < 255)
        return put_byte(e, (unsigned int)n);
    if ((size_t)n > 0xFFFFFFFFu) {
        PyErr_SetString(PyExc_OverflowError, "marshal: object longer than 2**32-1");
        return -1;
    }
    if (ensure(e, 5) < 0)
        return -1;
    e->buf[e->len++] = 0xFF;
    evm_put_u32(e->buf + e->len, (uint32_t)n);
    e->len += 4;
    return 0;
}

static int
put_op_sized(Encoder *e, unsigned int op, const char *p, Py_ssize_t n)
{
    if (put_byte(e, op) < 0 || put_size(e, n) < 0)
        return -1;
    return put_raw(e, p, n);
}

/* ---------------------------------------------------------------------------------------- */
/* Scalars                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static int
encode_int(Encoder *e, PyObject *o)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && !overflow && PyErr_Occurred())
        return -1;
    if (!overflow) {
        if (ensure(e, 9) < 0)
            return -1;
        unsigned char *p = e->buf + e->len;
        if (v >= -1 && v <= 1) {
            p[0] = v == -1 ? OP_MINUSONE : v == 0 ? OP_ZERO : OP_ONE;
            e->len += 1;
        }
        else if (v >= INT8_MIN && v <= INT8_MAX) {
            p[0] = OP_INT8;
            p[1] = (unsigned char)(int8_t)v;
            e->len += 2;
        }
        else if (v >= INT16_MIN && v <= INT16_MAX) {
            p[0] = OP_INT16;
            evm_put_u16(p + 1, (uint16_t)(int16_t)v);
            e->len += 3;
        }
        else if (v >= INT32_MIN && v <= INT32_MAX) {
            p[0] = OP_INT32;
            evm_put_u32(p + 1, (uint32_t)(int32_t)v);
            e->len += 5;
        }
        else {
            p[0] = OP_INT64;
            evm_put_u64(p + 1, (uint64_t)v);
            e->len += 9;
        }
        return 0;
    }
    /* Wider than 64 bits: 0x2F with the minimal two's-complement little-endian bytes.  int's own
     * methods, not o's: an int subclass may override them (a negative bit_length, a to_bytes
     * that does not return bytes). */
    MarshalState *st = e->st;
    PyObject *bits = PyObject_CallOneArg(st->long_bit_length, o);
    if (bits == NULL)
        return -1;
    Py_ssize_t nbits = PyLong_AsSsize_t(bits);
    Py_DECREF(bits);
    if (nbits < 0)
        return -1;
    PyObject *size = PyLong_FromSsize_t(nbits / 8 + 1);   /* one spare bit for the sign */
    if (size == NULL)
        return -1;
    /* int.to_bytes(o, size, "little", signed=True) */
    PyObject *args[4] = {o, size, st->str_little, Py_True};
    PyObject *b = PyObject_Vectorcall(st->long_to_bytes, args, 3, st->kwnames_signed);
    Py_DECREF(size);
    if (b == NULL)
        return -1;
    if (!PyBytes_Check(b)) {
        PyErr_SetString(PyExc_TypeError, "int.to_bytes did not return bytes");
        Py_DECREF(b);
        return -1;
    }
    int rc = put_op_sized(e, OP_VARINT, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

static int
encode_float(Encoder *e, double v)
{
    if (v == 0.0 && !signbit(v))
        return put_byte(e, OP_FLOAT0);
    if (ensure(e, 9) < 0)
        return -1;
    e->buf[e->len] = OP_FLOAT;
    if (PyFloat_Pack8(v, (char *)e->buf + e->len + 1, 1) < 0)
        return -1;
    e->len += 9;
    return 0;
}

static int
encode_bytes(Encoder *e, PyObject *o, const char *p, Py_ssize_t n)
{
    if (n == 0)
        return put_byte(e, OP_STR0);
    if (n == 1) {
        if (ensure(e, 2) < 0)
            return -1;
        e->buf[e->len++] = OP_STR1;
        e->buf[e->len++] = (unsigned char)p[0];
        return 0;
    }
    if (o != NULL && PyBytes_CheckExact(o)) {
        PyObject *idx = PyDict_GetItemWithError(e->st->strtable_index, o);
        if (idx != NULL) {
            if (ensure(e, 2) < 0)
                return -1;
            e->buf[e->len++] = OP_STRTABLE;
            e->buf[e->len++] = (unsigned char)PyLong_AsLong(idx);
            return 0;
        }
        if (PyErr_Occurred())
            return -1;
    }
    return put_op_sized(e, OP_STR, p, n);
}

static int
encode_str(Encoder *e, PyObject *o)
{
    if (PyUnicode_GET_LENGTH(o) == 0)
        return put_byte(e, OP_USTR0);
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n);
    if (p != NULL)
        return put_op_sized(e, OP_UTF8, p, n);
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return -1;
    /* Surrogates cannot be strict UTF-8: write each as its own 3-byte sequence (surrogatepass,
     * as Python 2's codec does), which the decoder reads back one code point each.  UCS-2 (0x12)
     * would not round-trip: '\ud800\udc00' would come back as one astral character. */
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "surrogatepass");
    if (b == NULL)
        return -1;
    int rc = put_op_sized(e, OP_UTF8, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

/* A str holding a class or global name, written as a byte string (latin-1: the decoder's
 * inverse).  op 0 writes it as a string object (0x0E/0x0F/0x11/0x13), OP_TOKEN as a token. */
static int
encode_name(Encoder *e, PyObject *name, unsigned int op)
{
    PyObject *b;
    if (PyUnicode_Check(name))
        b = PyUnicode_AsLatin1String(name);
    else if (PyBytes_Check(name))
        b = Py_NewRef(name);
    else {
        PyErr_Format(PyExc_TypeError, "marshal: a name must be str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    if (b == NULL)
        return -1;
    int rc = op ? put_op_sized(e, op, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
                : encode_bytes(e, b, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Containers                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static int
encode_tuple(Encoder *e, PyObject *o)
{
    Py_ssize_t n = PyTuple_GET_SIZE(o);
    int rc;
    if (n == 0)
        return put_byte(e, OP_TUPLE0);
    if (n == 1)
        rc = put_byte(e, OP_TUPLE1);
    else if (n == 2)
        rc = put_byte(e, OP_TUPLE2);
    else
        rc = put_byte(e, OP_TUPLE) < 0 ? -1 : put_size(e, n);
    if (rc < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        if (encode_object(e, PyTuple_GET_ITEM(o, i)) < 0)
            return -1;
    return 0;
}

static int
encode_list(Encoder *e, PyObject *o)
{
    Py_ssize_t n = PyList_GET_SIZE(o);
    int rc;
    if (n == 0)
        return put_byte(e, OP_LIST0);
    if (n == 1)
        rc = put_byte(e, OP_LIST1);
    else
        rc = put_byte(e, OP_LIST) < 0 ? -1 : put_size(e, n);
    if (rc < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_GET_SIZE(o) != n)
            goto changed;
        PyObject *item = Py_NewRef(PyList_GET_ITEM(o, i));
        rc = encode_object(e, item);
        Py_DECREF(item);
        if (rc < 0)
            return -1;
    }
    if (PyList_GET_SIZE(o) == n)
        return 0;
changed:
    PyErr_SetString(PyExc_RuntimeError, "marshal: list changed size during encoding");
    return -1;
}

/* dict entries go out as (value, key) for 0x16, (key, value) in ObjectEx bodies. */
static int
encode_dict_items(Encoder *e, PyObject *o, int value_first)
{
    Py_ssize_t n = PyDict_GET_SIZE(o), pos = 0, seen = 0;
    PyObject *k, *v;
    while (PyDict_Next(o, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        int rc = value_first ? encode_object(e, v) : encode_object(e, k);
        if (rc == 0)
            rc = value_first ? encode_object(e, k) : encode_object(e, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0)
            return -1;
        seen++;
        if (PyDict_GET_SIZE(o) != n)
            break;
    }
    if (seen != n || PyDict_GET_SIZE(o) != n) {
        PyErr_SetString(PyExc_RuntimeError, "marshal: dict changed size during encoding");
        return -1;
    }
    return 0;
}

static int
encode_dict(Encoder *e, PyObject *o)
{
    if (put_byte(e, OP_DICT) < 0 || put_size(e, PyDict_GET_SIZE(o)) < 0)
        return -1;
    return encode_dict_items(e, o, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Model types                                                                                */
/* ---------------------------------------------------------------------------------------- */

static int
encode_descriptor(Encoder *e, DescriptorObject *d)
{
    for (Py_ssize_t i = 0; i < e->nsaved; i++) {
        if (e->saved[i] == (PyObject *)d) {
            if (put_byte(e, OP_REF) < 0)
                return -1;
            return put_size(e, i + 1);
        }
    }
    if (e->nsaved == e->saved_cap) {
        Py_ssize_t cap = e->saved_cap ? e->saved_cap * 2 : 4;
        PyObject **s = PyMem_Realloc(e->saved, (size_t)cap * sizeof(PyObject *));
        if (s == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        e->saved = s;
        e->saved_cap = cap;
    }
    e->saved[e->nsaved++] = Py_NewRef((PyObject *)d);
    /* (Token 'blue.DBRowDescriptor', (columns,)[, [keywords]]), empty list and dict parts */
    static const char tok[] = "blue.DBRowDescriptor";
    int has_kw = PyTuple_GET_SIZE(d->keywords) > 0;
    if (put_byte(e, OP_OBJEX1 | FLAG_SAVE) < 0 ||
        (has_kw ? (put_byte(e, OP_TUPLE) < 0 || put_size(e, 3) < 0)
                : put_byte(e, OP_TUPLE2) < 0) ||
        put_op_sized(e, OP_TOKEN, tok, (Py_ssize_t)sizeof(tok) - 1) < 0 ||
        put_byte(e, OP_TUPLE1) < 0 || encode_tuple(e, d->columns) < 0)
        return -1;
    if (has_kw) {
        /* EVEmu's PyObjectEx_Type1 keyword form: a list of (name, Token) tuples */
        PyObject *list = PySequence_List(d->keywords);
        if (list == NULL)
            return -1;
        int rc = encode_list(e, list);
        Py_DECREF(list);
        if (rc < 0)
            return -1;
    }
    if (put_byte(e, OP_MARK) < 0 || put_byte(e, OP_MARK) < 0)
        return -1;
    return 0;
}

static int
encode_packedrow(Encoder *e, PackedRowObject *r)
{
    unsigned char stackbuf[512];
    Py_ssize_t n = r->desc->row_len;
    unsigned char *tmp = stackbuf;
    if (evm_rle_bound(n) > (Py_ssize_t)sizeof(stackbuf)) {
        tmp = PyMem_Malloc((size_t)evm_rle_bound(n));
        if (tmp == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_ssize_t m = evm_rle_pack(r->data, n, tmp);
    int rc = -1;
    if (put_byte(e, OP_PACKEDROW) == 0 && encode_descriptor(e, r->desc) == 0 &&
        put_size(e, m) == 0 && put_raw(e, tmp, m) == 0)
        rc = 0;
    if (tmp != stackbuf)
        PyMem_Free(tmp);
    if (rc < 0)
        return -1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(r->objs); i++)
        if (encode_object(e, PyTuple_GET_ITEM(r->objs, i)) < 0)
            return -1;
    return 0;
}

/* Encode the attribute `name` of o. */
static int
encode_attr(Encoder *e, PyObject *o, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL)
        return -1;
    int rc = encode_object(e, v);
    Py_DECREF(v);
    return rc;
}

static int
encode_objectex(Encoder *e, PyObject *o, unsigned int op)
{
    MarshalState *st = e->st;
    PyObject *list = NULL, *dict = NULL;
    int rc = -1;
    if (put_byte(e, op) < 0 || encode_attr(e, o, st->str_header) < 0)
        return -1;
    list = PyObject_GetAttr(o, st->str_list);
    dict = list ? PyObject_GetAttr(o, st->str_dict) : NULL;
    if (dict == NULL)
        goto done;
    if (!PyList_Check(list) || !PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError, "marshal: ObjectEx .list must be a list, .dict a dict");
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(list, i));
        int r = encode_object(e, item);
        Py_DECREF(item);
        if (r < 0)
            goto done;
    }
    if (put_byte(e, OP_MARK) < 0 || encode_dict_items(e, dict, 0) < 0 ||
        put_byte(e, OP_MARK) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(list);
    Py_XDECREF(dict);
    return rc;
}

static int
encode_other(Encoder *e, PyObject *o)
{
    MarshalState *st = e->st;
    PyObject *tp = (PyObject *)Py_TYPE(o);
    int rc = -1;

    if (tp == st->Token) {
        PyObject *name = PyObject_GetAttr(o, st->str_name);
        if (name == NULL)
            return -1;
        rc = encode_name(e, name, OP_TOKEN);
        Py_DECREF(name);
        return rc;
    }
    if (tp == st->Instance) {
        PyObject *name = PyObject_GetAttr(o, st->str_name);
        if (name == NULL)
            return -1;
        rc = put_byte(e, OP_INSTANCE) < 0 ? -1 : encode_name(e, name, 0);
        Py_DECREF(name);
        if (rc < 0)
            return -1;
        return encode_attr(e, o, st->str_state);
    }
    if (tp == st->ObjectEx1)
        return encode_objectex(e, o, OP_OBJEX1);
    if (tp == st->ObjectEx2)
        return encode_objectex(e, o, OP_OBJEX2);
    if (tp == st->SubStream) {
        /* The `_raw` slot directly when it is filled (decoded or from_raw: no property
         * frame); else the `raw` property encodes the value. */
        PyObject *raw = NULL;
        if (st->ss_raw_slot != NULL) {
            raw = Py_TYPE(st->ss_raw_slot)->tp_descr_get(st->ss_raw_slot, o,
                                                         (PyObject *)Py_TYPE(o));
            if (raw == NULL)
                PyErr_Clear();          /* unset slot: AttributeError; take the property */
            else if (!PyBytes_Check(raw))
                Py_CLEAR(raw);          /* None: not encoded yet */
        }
        if (raw == NULL)
            raw = PyObject_GetAttr(o, st->str_raw);
        if (raw == NULL)
            return -1;
        if (!PyBytes_Check(raw))
            PyErr_SetString(PyExc_TypeError, "marshal: SubStream.raw must be bytes");
        else
            rc = put_op_sized(e, OP_SUBSTREAM, PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
        Py_DECREF(raw);
        return rc;
    }
    if (tp == st->SubStruct) {
        if (put_byte(e, OP_SUBSTRUCT) < 0)
            return -1;
        return encode_attr(e, o, st->str_value);
    }
    if (tp == st->Buffer)
        return put_op_sized(e, OP_BUFFER, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));

    /* Subclasses of the plain types (IntEnum, namedtuple, OrderedDict...) and bytearray. */
    if (PyLong_Check(o))
        return encode_int(e, o);
    if (PyFloat_Check(o))
        return encode_float(e, PyFloat_AS_DOUBLE(o));
    if (PyBytes_Check(o))
        return encode_bytes(e, NULL, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    if (PyByteArray_Check(o))
        return encode_bytes(e, NULL, PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o));
    if (PyUnicode_Check(o))
        return encode_str(e, o);
    if (PyTuple_Check(o))
        return encode_tuple(e, o);
    if (PyList_Check(o))
        return encode_list(e, o);
    if (PyDict_Check(o))
        return encode_dict(e, o);
    PyErr_Format(PyExc_TypeError, "marshal: cannot encode a %.100s object", Py_TYPE(o)->tp_name);
    return -1;
}

static int
encode_object(Encoder *e, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    int rc;

    if (o == Py_None)
        return put_byte(e, OP_NONE);
    if (o == Py_True)
        return put_byte(e, OP_TRUE);
    if (o == Py_False)
        return put_byte(e, OP_FALSE);
    if (tp == &PyLong_Type)
        return encode_int(e, o);
    if (tp == &PyFloat_Type)
        return encode_float(e, PyFloat_AS_DOUBLE(o));
    if (tp == &PyBytes_Type)
        return encode_bytes(e, o, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    if (tp == &PyUnicode_Type)
        return encode_str(e, o);

    if (++e->depth > e->max_depth) {
        e->depth--;
        evm_error(e->st, -1, "cannot encode: nesting deeper than %d levels (a cycle?)",
                  e->max_depth);
        return -1;
    }
    if (tp == &PyTuple_Type)
        rc = encode_tuple(e, o);
    else if (tp == &PyList_Type)
        rc = encode_list(e, o);
    else if (tp == &PyDict_Type)
        rc = encode_dict(e, o);
    else if (tp == e->st->PackedRowType)
        rc = encode_packedrow(e, (PackedRowObject *)o);
    else if (tp == e->st->DescriptorType)
        rc = encode_descriptor(e, (DescriptorObject *)o);
    else
        rc = encode_other(e, o);
    e->depth--;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry point                                                                                */
/* ---------------------------------------------------------------------------------------- */

PyObject *
evm_encode(MarshalState *st, PyObject *obj, int max_depth)
{
    Encoder e;
    PyObject *res = NULL;
    memset(&e, 0, sizeof(e));
    e.st = st;
    e.max_depth = max_depth;

    if (ensure(&e, 5) < 0)
        goto done;
    e.buf[0] = STREAM_HEADER;
    e.len = 5;
    if (encode_object(&e, obj) < 0)
        goto done;
    evm_put_u32(e.buf + 1, (uint32_t)e.nsaved);
    if (ensure(&e, 4 * e.nsaved) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < e.nsaved; i++) {
        evm_put_u32(e.buf + e.len, (uint32_t)(i + 1));
        e.len += 4;
    }
    res = PyBytes_FromStringAndSize((const char *)e.buf, e.len);
done:
    for (Py_ssize_t i = 0; i < e.nsaved; i++)
        Py_DECREF(e.saved[i]);
    PyMem_Free(e.saved);
    PyMem_Free(e.buf);
    return res;
}
