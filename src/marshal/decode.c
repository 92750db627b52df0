/* decode.c - the marshal stream decoder: bytes -> model objects.
 *
 * Owns: the Decoder state (start / pos / end, the slot map and the saved-object table), the tiny
 * bounds-checked readers, and decode_object(), the one recursive function.
 *
 * Discipline (the input is hostile until proven otherwise):
 *   - every read goes through need(), which raises the one "truncated" MarshalError with the
 *     offset;
 *   - nothing is allocated from a declared length before checking that the bytes exist: a
 *     container of n items needs at least n bytes (every item is at least one byte), a dict of n
 *     pairs 2n bytes;
 *   - recursion is bounded by max_depth; the unpacked rows of a stream by max_size (a row of
 *     four bytes can reference a descriptor thousands of bytes wide); and a 0x1B reference
 *     counts as the objects it stands for, capped at 64 per stream byte, so that walking the
 *     decoded value stays linear in the input however the references nest;
 *   - a saved object is stored in its slot only after it is completely decoded, so a 0x1B
 *     reference can only point backwards to a finished object: reference cycles cannot be built
 *     and are reported as errors;
 *   - errors raised by Python while building values (unhashable dict key, bad UTF-8) are turned
 *     into MarshalError at the offset of the object being decoded (module.c, via d->obj_start).
 */
#include "marshal.h"

typedef struct {
    MarshalState *st;
    const unsigned char *start;   /* first byte of the stream (the 0x7E) */
    const unsigned char *pos;     /* next unread byte */
    const unsigned char *end;     /* end of object data = start of the slot map */
    const unsigned char *map;     /* map_count little-endian u32 slot numbers */
    Py_ssize_t map_count;
    Py_ssize_t map_next;          /* next unread map entry */
    PyObject **slots;             /* map_count entries, NULL while not (yet) stored */
    Py_ssize_t *slot_nodes;       /* expanded object count of each stored object */
    Py_ssize_t nodes, max_nodes;  /* objects decoded so far, counting references expanded */
    int depth, max_depth;
    Py_ssize_t row_budget;        /* bytes of unpacked PackedRows still allowed */
    Py_ssize_t obj_start;         /* offset of the header byte of the object being decoded */
} Decoder;

#define OFFSET(d) ((Py_ssize_t)((d)->pos - (d)->start))

static PyObject *decode_object(Decoder *d);

/* ---------------------------------------------------------------------------------------- */
/* Readers                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static int
truncated(Decoder *d, Py_ssize_t n)
{
    evm_error(d->st, OFFSET(d), "truncated stream: need %zd byte(s), %zd left", n,
              (Py_ssize_t)(d->end - d->pos));
    return -1;
}

/* 0 if n more bytes exist, else -1 with MarshalError set.  n may come from the stream. */
static inline int
need(Decoder *d, Py_ssize_t n)
{
    if (n < 0 || n > d->end - d->pos)
        return truncated(d, n);
    return 0;
}

static inline int
read_u8(Decoder *d, unsigned int *out)
{
    if (need(d, 1) < 0)
        return -1;
    *out = *d->pos++;
    return 0;
}

/* sizeEx: one byte, or 0xFF followed by a u32. */
static inline int
read_size(Decoder *d, Py_ssize_t *out)
{
    if (need(d, 1) < 0)
        return -1;
    unsigned int n = *d->pos++;
    if (n == 0xFF) {
        if (need(d, 4) < 0)
            return -1;
        *out = (Py_ssize_t)evm_get_u32(d->pos);
        d->pos += 4;
    }
    else {
        *out = (Py_ssize_t)n;
    }
    return 0;
}

/* A size that counts items of at least `unit` bytes each: reject it before any allocation if
 * the stream cannot possibly hold that many. */
static inline int
read_count(Decoder *d, Py_ssize_t unit, Py_ssize_t *out)
{
    if (read_size(d, out) < 0)
        return -1;
    if (*out > (d->end - d->pos) / unit) {
        evm_error(d->st, OFFSET(d), "declared count %zd exceeds the %zd byte(s) left", *out,
                  (Py_ssize_t)(d->end - d->pos));
        return -1;
    }
    return 0;
}

/* A reference stands for its whole object: count the object's expanded size, so that nested
 * references (a list of 100 references to a list of 100 references to ...) cannot build a value
 * whose traversal (repr, ==, dumps) is exponential in the stream's length. */
static int
expand(Decoder *d, Py_ssize_t slot, Py_ssize_t at)
{
    d->nodes += d->slot_nodes[slot];
    if (d->nodes > d->max_nodes) {
        evm_error(d->st, at, "shared references expand to more than %zd objects", d->max_nodes);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Value builders                                                                             */
/* ---------------------------------------------------------------------------------------- */

static PyObject *
decode_varint(Decoder *d)
{
    Py_ssize_t n;
    if (read_size(d, &n) < 0 || need(d, n) < 0)
        return NULL;
    const unsigned char *p = d->pos;
    d->pos += n;
    if (n == 0)
        return PyLong_FromLong(0);
    if (n <= 8) {
        uint64_t v = 0;
        for (Py_ssize_t i = n - 1; i >= 0; i--)
            v = (v << 8) | p[i];
        if (n < 8 && (p[n - 1] & 0x80))              /* sign-extend */
            v |= ~(uint64_t)0 << (8 * n);
        return PyLong_FromLongLong((long long)v);
    }
    /* Wider than 64 bits: int.from_bytes(b, 'little', signed=True). */
    PyObject *b = PyBytes_FromStringAndSize((const char *)p, n);
    if (b == NULL)
        return NULL;
    /* (the bound classmethod held in the module state; see MarshalState) */
    PyObject *args[3] = {b, d->st->str_little, Py_True};
    PyObject *res = PyObject_Vectorcall(d->st->long_from_bytes, args, 2, d->st->kwnames_signed);
    Py_DECREF(b);
    return res;
}

static PyObject *
decode_tuple_n(Decoder *d, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = decode_object(d);
        if (item == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, item);
    }
    return t;
}

static PyObject *
decode_list_n(Decoder *d, Py_ssize_t n)
{
    PyObject *l = PyList_New(n);
    if (l == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = decode_object(d);
        if (item == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, item);
    }
    return l;
}

/* 0x16: count, then count x (value, key) - the value comes first on the wire. */
static PyObject *
decode_dict(Decoder *d)
{
    Py_ssize_t n;
    if (read_count(d, 2, &n) < 0)
        return NULL;
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = decode_object(d);
        if (value == NULL)
            goto fail;
        PyObject *key = decode_object(d);
        if (key == NULL) {
            Py_DECREF(value);
            goto fail;
        }
        int rc = PyDict_SetItem(dict, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            goto fail;
    }
    return dict;
fail:
    Py_DECREF(dict);
    return NULL;
}

/* 0x17: class name (a string object), then the state object.  The name stays data: it is
 * turned into a str and handed to Instance, never looked up. */
static PyObject *
decode_instance(Decoder *d)
{
    Py_ssize_t at = OFFSET(d);
    PyObject *name = decode_object(d);
    if (name == NULL)
        return NULL;
    PyObject *sname;
    if (PyBytes_Check(name))
        sname = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), NULL);
    else {
        /* A wide string (0x12/0x28/0x29/0x2E) is refused too, as CCP's and EVEmu's decoders
         * do: a class name is a Python 2 byte string. */
        evm_error(d->st, at, "instance class name is a %.100s, not a byte string",
                  PyUnicode_Check(name) ? "wide string" : Py_TYPE(name)->tp_name);
        Py_DECREF(name);      /* after using its type's name */
        return NULL;
    }
    Py_DECREF(name);
    if (sname == NULL)
        return NULL;
    PyObject *state = decode_object(d);
    if (state == NULL) {
        Py_DECREF(sname);
        return NULL;
    }
    PyObject *res = evm_new_instance(d->st, sname, state);
    Py_DECREF(sname);
    Py_DECREF(state);
    return res;
}

/* 0x22 / 0x23: header, list items until 0x2D, (key, value) pairs until 0x2D. */
static PyObject *
decode_objectex(Decoder *d, int type2)
{
    PyObject *header = NULL, *list = NULL, *dict = NULL, *res = NULL;
    header = decode_object(d);
    if (header == NULL)
        return NULL;
    list = PyList_New(0);
    dict = PyDict_New();
    if (list == NULL || dict == NULL)
        goto done;
    for (;;) {
        if (need(d, 1) < 0)
            goto done;
        if (*d->pos == OP_MARK) {
            d->pos++;
            break;
        }
        PyObject *item = decode_object(d);
        if (item == NULL)
            goto done;
        int rc = PyList_Append(list, item);
        Py_DECREF(item);
        if (rc < 0)
            goto done;
    }
    for (;;) {
        if (need(d, 1) < 0)
            goto done;
        if (*d->pos == OP_MARK) {
            d->pos++;
            break;
        }
        PyObject *key = decode_object(d);
        if (key == NULL)
            goto done;
        PyObject *value = decode_object(d);
        if (value == NULL) {
            Py_DECREF(key);
            goto done;
        }
        int rc = PyDict_SetItem(dict, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            goto done;
    }
    if (!type2 && PyList_GET_SIZE(list) == 0 && PyDict_GET_SIZE(dict) == 0) {
        int r = evm_descriptor_from_header(d->st, header, &res);
        if (r != 0)     /* 1: res is the descriptor; -1: error, res NULL */
            goto done;
    }
    res = PyObject_CallFunctionObjArgs(type2 ? d->st->ObjectEx2 : d->st->ObjectEx1, header,
                                       list, dict, NULL);
done:
    Py_XDECREF(header);
    Py_XDECREF(list);
    Py_XDECREF(dict);
    return res;
}

/* 0x2A: descriptor object, sizeEx n, n bytes of RLE data, one object per object column. */
static PyObject *
decode_packedrow(Decoder *d)
{
    Py_ssize_t at = OFFSET(d);
    PyObject *desc;
    /* Fast path: rows of a rowset all reference (0x1B) one saved descriptor. */
    if (d->end - d->pos >= 2 && d->pos[0] == OP_REF && d->pos[1] >= 1 && d->pos[1] < 0xFF &&
        d->pos[1] <= d->map_count && d->slots[d->pos[1] - 1] != NULL) {
        if (expand(d, d->pos[1] - 1, at) < 0)
            return NULL;
        desc = Py_NewRef(d->slots[d->pos[1] - 1]);
        d->pos += 2;
    }
    else if ((desc = decode_object(d)) == NULL)
        return NULL;
    if (!Py_IS_TYPE(desc, d->st->DescriptorType)) {
        Py_DECREF(desc);
        return evm_error(d->st, at, "PackedRow header is not a blue.DBRowDescriptor");
    }
    DescriptorObject *ds = (DescriptorObject *)desc;
    PackedRowObject *row = NULL;
    PyObject *objs = NULL, *res = NULL;
    Py_ssize_t n;
    if (read_size(d, &n) < 0 || need(d, n) < 0)
        goto done;
    if (ds->row_len > d->row_budget) {
        evm_error(d->st, at, "PackedRows unpack to more than the max_size limit");
        goto done;
    }
    d->row_budget -= ds->row_len;
    row = (PackedRowObject *)evm_packedrow_alloc(d->st, ds);   /* data zero-filled */
    if (row == NULL)
        goto done;
    Py_ssize_t bad;
    if (evm_rle_unpack(d->pos, n, row->data, ds->row_len, &bad) < 0) {
        evm_error(d->st, OFFSET(d) + bad, "Invalid RLE string: a run past the %zd-byte row",
                  ds->row_len);
        goto done;
    }
    d->pos += n;
    if (ds->nobjs > (d->end - d->pos)) {
        truncated(d, ds->nobjs);
        goto done;
    }
    objs = decode_tuple_n(d, ds->nobjs);
    if (objs == NULL)
        goto done;
    evm_packedrow_set_objs(d->st, row, objs);
    objs = NULL;
    res = (PyObject *)row;
    row = NULL;
done:
    Py_DECREF(desc);
    Py_XDECREF(row);
    Py_XDECREF(objs);
    return res;
}

/* ---------------------------------------------------------------------------------------- */
/* The object decoder                                                                         */
/* ---------------------------------------------------------------------------------------- */

static PyObject *
decode_body(Decoder *d, unsigned int op)
{
    const unsigned char *p;
    Py_ssize_t n;
    unsigned int u;

    switch (op) {
    case OP_NONE:
        Py_RETURN_NONE;
    case OP_TOKEN:
        if (read_size(d, &n) < 0 || need(d, n) < 0)
            return NULL;
        p = d->pos;
        d->pos += n;
        {
            PyObject *name = PyUnicode_DecodeLatin1((const char *)p, n, NULL);
            if (name == NULL)
                return NULL;
            PyObject *tok = PyObject_CallOneArg(d->st->Token, name);
            Py_DECREF(name);
            return tok;
        }
    case OP_INT64:
        if (need(d, 8) < 0)
            return NULL;
        p = d->pos;
        d->pos += 8;
        return PyLong_FromLongLong((long long)evm_get_u64(p));
    case OP_INT32:
        if (need(d, 4) < 0)
            return NULL;
        p = d->pos;
        d->pos += 4;
        return PyLong_FromLong((long)(int32_t)evm_get_u32(p));
    case OP_INT16:
        if (need(d, 2) < 0)
            return NULL;
        p = d->pos;
        d->pos += 2;
        return PyLong_FromLong((long)(int16_t)evm_get_u16(p));
    case OP_INT8:
        if (need(d, 1) < 0)
            return NULL;
        return PyLong_FromLong((long)(int8_t)*d->pos++);
    case OP_MINUSONE:
        return PyLong_FromLong(-1);
    case OP_ZERO:
        return PyLong_FromLong(0);
    case OP_ONE:
        return PyLong_FromLong(1);
    case OP_FLOAT:
        if (need(d, 8) < 0)
            return NULL;
        p = d->pos;
        d->pos += 8;
        {
            double v = PyFloat_Unpack8((const char *)p, 1);
            if (v == -1.0 && PyErr_Occurred())
                return NULL;
            return PyFloat_FromDouble(v);
        }
    case OP_FLOAT0:
        return PyFloat_FromDouble(0.0);
    case OP_BUFFER:
        if (read_size(d, &n) < 0 || need(d, n) < 0)
            return NULL;
        p = d->pos;
        d->pos += n;
        {
            PyObject *b = PyBytes_FromStringAndSize((const char *)p, n);
            if (b == NULL)
                return NULL;
            PyObject *res = PyObject_CallOneArg(d->st->Buffer, b);
            Py_DECREF(b);
            return res;
        }
    case OP_STR0:
        return PyBytes_FromStringAndSize(NULL, 0);
    case OP_STR1:
        if (need(d, 1) < 0)
            return NULL;
        p = d->pos++;
        return PyBytes_FromStringAndSize((const char *)p, 1);
    case OP_STRSHORT:
        if (read_u8(d, &u) < 0 || need(d, u) < 0)
            return NULL;
        p = d->pos;
        d->pos += u;
        return PyBytes_FromStringAndSize((const char *)p, u);
    case OP_STRTABLE:
        if (read_u8(d, &u) < 0)
            return NULL;
        if (u < 1 || u > EVM_STRING_TABLE_SIZE)
            return evm_error(d->st, OFFSET(d) - 1, "string table index %u out of range 1..%d",
                             u, EVM_STRING_TABLE_SIZE);
        return Py_NewRef(PyTuple_GET_ITEM(d->st->strtable, u));
    case OP_UCS2:
        if (read_count(d, 2, &n) < 0)
            return NULL;
        p = d->pos;
        d->pos += 2 * n;
        {
            int order = -1;  /* little-endian, no BOM processing */
            return PyUnicode_DecodeUTF16((const char *)p, 2 * n, "surrogatepass", &order);
        }
    case OP_STR:
        if (read_size(d, &n) < 0 || need(d, n) < 0)
            return NULL;
        p = d->pos;
        d->pos += n;
        return PyBytes_FromStringAndSize((const char *)p, n);
    case OP_TUPLE:
        if (read_count(d, 1, &n) < 0)
            return NULL;
        return decode_tuple_n(d, n);
    case OP_LIST:
        if (read_count(d, 1, &n) < 0)
            return NULL;
        return decode_list_n(d, n);
    case OP_DICT:
        return decode_dict(d);
    case OP_INSTANCE:
        return decode_instance(d);
    case OP_SUBSTRUCT: {
        PyObject *v = decode_object(d);
        if (v == NULL)
            return NULL;
        PyObject *res = PyObject_CallOneArg(d->st->SubStruct, v);
        Py_DECREF(v);
        return res;
    }
    case OP_REF: {
        Py_ssize_t at = OFFSET(d) - 1;
        if (read_size(d, &n) < 0)
            return NULL;
        if (n < 1 || n > d->map_count)
            return evm_error(d->st, at, "reference to slot %zd, stream has %zd slot(s)", n,
                             d->map_count);
        PyObject *o = d->slots[n - 1];
        if (o == NULL)
            return evm_error(d->st, at,
                             "reference to slot %zd before its object is complete "
                             "(forward reference or cycle)", n);
        if (expand(d, n - 1, at) < 0)
            return NULL;
        return Py_NewRef(o);
    }
    case OP_CHECKSUM: {
        if (need(d, 4) < 0)
            return NULL;
        uint32_t want = evm_get_u32(d->pos);
        d->pos += 4;
        uint32_t got = evm_adler32(d->pos, d->end - d->pos);
        if (want != got)
            return evm_error(d->st, OFFSET(d) - 4,
                             "checksum mismatch: stream says %08x, data has %08x",
                             (unsigned int)want, (unsigned int)got);
        return decode_object(d);
    }
    case OP_TRUE:
        Py_RETURN_TRUE;
    case OP_FALSE:
        Py_RETURN_FALSE;
    case OP_OBJEX1:
        return decode_objectex(d, 0);
    case OP_OBJEX2:
        return decode_objectex(d, 1);
    case OP_TUPLE0:
        return PyTuple_New(0);
    case OP_TUPLE1:
        return decode_tuple_n(d, 1);
    case OP_LIST0:
        return PyList_New(0);
    case OP_LIST1:
        return decode_list_n(d, 1);
    case OP_USTR0:
        return PyUnicode_New(0, 0);
    case OP_UCS2CHAR:
        if (need(d, 2) < 0)
            return NULL;
        p = d->pos;
        d->pos += 2;
        {
            int order = -1;
            return PyUnicode_DecodeUTF16((const char *)p, 2, "surrogatepass", &order);
        }
    case OP_PACKEDROW:
        return decode_packedrow(d);
    case OP_SUBSTREAM:
        if (read_size(d, &n) < 0 || need(d, n) < 0)
            return NULL;
        p = d->pos;
        d->pos += n;
        {
            PyObject *raw = PyBytes_FromStringAndSize((const char *)p, n);
            if (raw == NULL)
                return NULL;
            PyObject *res = evm_new_substream(d->st, raw);
            Py_DECREF(raw);
            return res;
        }
    case OP_TUPLE2:
        return decode_tuple_n(d, 2);
    case OP_UTF8:
        if (read_size(d, &n) < 0 || need(d, n) < 0)
            return NULL;
        p = d->pos;
        d->pos += n;
        /* surrogatepass: UTF-8 encoded surrogates (what Python 2's codec writes for a lone
         * surrogate, and what we write for a str that holds them) decode one code point each. */
        return PyUnicode_DecodeUTF8((const char *)p, n, "surrogatepass");
    case OP_VARINT:
        return decode_varint(d);
    case OP_MARK:
        return evm_error(d->st, OFFSET(d) - 1, "terminator 0x2D outside an ObjectEx body");
    default:
        return evm_error(d->st, OFFSET(d) - 1, "unknown or unsupported opcode 0x%02x", op);
    }
}

static PyObject *
decode_object(Decoder *d)
{
    if (need(d, 1) < 0)
        return NULL;
    Py_ssize_t at = OFFSET(d);
    unsigned int b = *d->pos++;
    Py_ssize_t slot = 0;

    if (b & FLAG_UNKNOWN) {
        /* 0x40 is the save flag; 0x80 has no meaning in the format.  EVEmu only warns, blue's
         * decoder refuses it: so do we, rather than silently masking it off. */
        return evm_error(d->st, at, "opcode byte 0x%02x has the undefined 0x80 flag set", b);
    }
    if (++d->depth > d->max_depth) {
        d->depth--;
        return evm_error(d->st, at, "nesting deeper than %d levels", d->max_depth);
    }
    if (b & FLAG_SAVE) {
        if (d->map_next >= d->map_count) {
            d->depth--;
            return evm_error(d->st, at, "more saved objects than the %zd-entry slot map",
                             d->map_count);
        }
        uint32_t s = evm_get_u32(d->map + 4 * d->map_next);
        d->map_next++;
        if (s < 1 || (Py_ssize_t)s > d->map_count) {
            d->depth--;
            return evm_error(d->st, at, "slot number %u out of range 1..%zd", (unsigned int)s,
                             d->map_count);
        }
        slot = (Py_ssize_t)s;
    }
    d->obj_start = at;
    Py_ssize_t nodes_before = d->nodes++;
    PyObject *obj = decode_body(d, b & OP_MASK);
    d->depth--;
    if (obj == NULL)
        return NULL;    /* d->obj_start keeps the innermost failing object's offset */
    d->obj_start = at;
    if (slot) {
        if (d->slots[slot - 1] != NULL) {
            Py_DECREF(obj);
            return evm_error(d->st, at, "slot %zd assigned twice", slot);
        }
        d->slots[slot - 1] = Py_NewRef(obj);
        d->slot_nodes[slot - 1] = d->nodes - nodes_before;
    }
    return obj;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry point                                                                                */
/* ---------------------------------------------------------------------------------------- */

/* Turn a non-MarshalError exception raised while building a value (bad UTF-8, unhashable dict
 * key...) into MarshalError at `offset`, chained to the original.  MemoryError and
 * KeyboardInterrupt-like errors pass through unchanged. */
static void
wrap_foreign_error(MarshalState *st, Py_ssize_t offset)
{
    if (PyErr_ExceptionMatches(st->MarshalError) || PyErr_ExceptionMatches(PyExc_MemoryError) ||
        !PyErr_ExceptionMatches(PyExc_Exception))
        return;
    PyObject *exc = evm_fetch_exception();
    PyObject *msg = PyObject_Str(exc);
    if (msg == NULL) {
        PyErr_Clear();
        msg = PyUnicode_FromString("?");
    }
    evm_error(st, offset, "invalid value (%.100s: %.200U)", Py_TYPE(exc)->tp_name, msg);
    Py_XDECREF(msg);
    PyObject *new_exc = evm_fetch_exception();
    if (new_exc == NULL) {       /* evm_error itself failed (MemoryError already replaced) */
        Py_DECREF(exc);
        return;
    }
    PyException_SetCause(new_exc, exc);  /* steals exc */
    evm_restore_exception(new_exc);
}

PyObject *
evm_decode(MarshalState *st, const unsigned char *buf, Py_ssize_t len, int max_depth,
           Py_ssize_t max_size, int allow_trailing)
{
    Decoder d;
    PyObject *root = NULL;

    memset(&d, 0, sizeof(d));
    d.st = st;
    d.start = d.pos = buf;
    d.end = buf + len;
    d.max_depth = max_depth;
    d.row_budget = max_size;
    d.obj_start = 0;

    if (len < 1 || buf[0] != STREAM_HEADER) {
        if (len < 1)
            return evm_error(st, 0, "empty stream");
        return evm_error(st, 0, "not a marshal stream (first byte 0x%02x, expected 0x7e)",
                         buf[0]);
    }
    d.pos++;
    if (need(&d, 4) < 0)
        return NULL;
    uint32_t count = evm_get_u32(d.pos);
    d.pos += 4;
    if ((uint64_t)count > (uint64_t)(d.end - d.pos) / 4)
        return evm_error(st, 1, "slot map of %u entries does not fit in the %zd byte(s) left",
                         (unsigned int)count, (Py_ssize_t)(d.end - d.pos));
    d.map_count = (Py_ssize_t)count;
    d.end -= 4 * d.map_count;
    d.map = d.end;
    if (d.map_count > 0) {
        d.slots = PyMem_Calloc((size_t)d.map_count, sizeof(PyObject *));
        d.slot_nodes = PyMem_Calloc((size_t)d.map_count, sizeof(Py_ssize_t));
        if (d.slots == NULL || d.slot_nodes == NULL) {
            PyMem_Free(d.slots);
            PyMem_Free(d.slot_nodes);
            return PyErr_NoMemory();
        }
    }
    /* Without references a stream of n bytes holds at most n objects; with them the expanded
     * value may hold 64 times that (real data: ~3x), and at least 2**20. */
    d.max_nodes = len < (PY_SSIZE_T_MAX >> 7) ? 64 * len : PY_SSIZE_T_MAX / 2;
    if (d.max_nodes < ((Py_ssize_t)1 << 20))
        d.max_nodes = (Py_ssize_t)1 << 20;

    root = decode_object(&d);
    if (root != NULL && d.pos != d.end && !allow_trailing) {
        Py_CLEAR(root);
        evm_error(st, OFFSET(&d), "%zd byte(s) of trailing data after the root object",
                  (Py_ssize_t)(d.end - d.pos));
    }
    if (root == NULL)
        wrap_foreign_error(st, d.obj_start);

    for (Py_ssize_t i = 0; i < d.map_count; i++)
        Py_XDECREF(d.slots[i]);
    PyMem_Free(d.slots);
    PyMem_Free(d.slot_nodes);
    return root;
}
