/* packedrow.c - DBRowDescriptor and PackedRow (opcode 0x2A), and the zero-nibble RLE.
 *
 * A DBRowDescriptor is the decoded form of the ObjectEx1
 *     (Token 'blue.DBRowDescriptor', (((name, dbtype), ...),))
 * with its row layout computed once: fixed-size columns sorted by size (8, 4, 2, 1 bytes; ties in
 * column order), then a bit area holding one bit per BOOL column (in column order) followed by one
 * NULL bit per column (indexed by column number).  BYTES/STR/WSTR columns are marshal objects that
 * follow the compressed blob in the stream.
 *
 * A PackedRow keeps the unpacked row bytes (the RLE is undone while decoding, which also checks the
 * blob against the layout) plus the tuple of object columns, and converts a column to a Python
 * value only when it is read: decoding a 6007-row RowDict allocates two objects per row, and
 * reading one column costs one small object.  CY (money) columns read as int64 / 10000 (float),
 * FILETIME as int, BOOL as bool; a set NULL bit reads as None.
 *
 * Hazards: the descriptor is immutable after construction (rows rely on its layout); a row's
 * `data` is always exactly desc->row_len bytes (checked in every constructor), so column reads
 * need no bounds checks.
 */
#include "marshal.h"

#include <math.h>
#include <stddef.h>

/* ---------------------------------------------------------------------------------------- */
/* Zero-nibble RLE                                                                            */
/* ---------------------------------------------------------------------------------------- */

/* Control bytes hold two nibbles, low first.  v >= 8: emit v-7 zero bytes; v < 8: copy the next
 * 8-v literal bytes.  As CCP's decoder (blue's DBRow, and Reverence's "Invalid RLE string"), the
 * length a nibble declares must fit in the row, whatever the data: a zero run of 8 into a 5-byte
 * row, or a literal run of 6 into a 5-byte row with only 1 byte present, is refused.  A literal
 * run cut short by the end of the input copies what is there, and a high nibble read after the
 * input has ended is not a run at all (encoders leave it 0, "8 literals").  Unlike CCP, which
 * ignores input left over once the row is full, we refuse it.  Returns 0, or -1 with *bad = the
 * input offset of the control byte at fault. */
int
evm_rle_unpack(const unsigned char *in, Py_ssize_t in_len, unsigned char *out,
               Py_ssize_t out_len, Py_ssize_t *bad)
{
    Py_ssize_t ip = 0, op = 0;
    while (ip < in_len) {
        Py_ssize_t ctl_at = ip;
        unsigned int c = in[ip++];
        for (int half = 0; half < 2; half++) {
            if (half && ip >= in_len)
                break;
            unsigned int v = half ? (c >> 4) : (c & 0x0F);
            Py_ssize_t k = v >= 8 ? (Py_ssize_t)(v - 7) : 8 - (Py_ssize_t)v;
            if (k > out_len - op) {
                *bad = ctl_at;
                return -1;
            }
            if (v < 8) {
                if (k > in_len - ip)
                    k = in_len - ip;
                memcpy(out + op, in + ip, (size_t)k);
                ip += k;
            }
            op += k;
        }
    }
    return 0;
}

Py_ssize_t
evm_rle_pack(const unsigned char *in, Py_ssize_t in_len, unsigned char *out)
{
    Py_ssize_t n = in_len, ip = 0, op = 0, ctl = -1;
    int half = 0;
    while (n > 0 && in[n - 1] == 0)      /* trailing zeros are implied */
        n--;
    while (ip < n) {
        unsigned int v;
        Py_ssize_t k = 0;
        if (half == 0) {
            ctl = op++;
            out[ctl] = 0;
        }
        if (in[ip] == 0) {
            while (k < 8 && ip + k < n && in[ip + k] == 0)
                k++;
            v = (unsigned int)(7 + k);
            ip += k;
        }
        else {
            while (k < 8 && ip + k < n && in[ip + k] != 0)
                k++;
            v = (unsigned int)(8 - k);
            memcpy(out + op, in + ip, (size_t)k);
            op += k;
            ip += k;
        }
        out[ctl] |= (unsigned char)(half ? (v << 4) : v);
        half ^= 1;
    }
    /* An odd last nibble leaves the high nibble 0: "copy 8 literals" with no input left, which
     * copies nothing. */
    return op;
}

/* ---------------------------------------------------------------------------------------- */
/* DBRowDescriptor                                                                            */
/* ---------------------------------------------------------------------------------------- */

static int
dbtype_size(long t)
{
    switch (t) {
    case DBTYPE_I8: case DBTYPE_UI8: case DBTYPE_R8: case DBTYPE_CY: case DBTYPE_FILETIME:
        return 8;
    case DBTYPE_I4: case DBTYPE_UI4: case DBTYPE_R4:
        return 4;
    case DBTYPE_I2: case DBTYPE_UI2:
        return 2;
    case DBTYPE_I1: case DBTYPE_UI1:
        return 1;
    case DBTYPE_BOOL: case DBTYPE_BYTES: case DBTYPE_STR: case DBTYPE_WSTR:
        return 0;
    default:
        return -1;
    }
}

static const char *
dbtype_name(int t)
{
    switch (t) {
    case DBTYPE_I2: return "DBTYPE_I2";
    case DBTYPE_I4: return "DBTYPE_I4";
    case DBTYPE_R4: return "DBTYPE_R4";
    case DBTYPE_R8: return "DBTYPE_R8";
    case DBTYPE_CY: return "DBTYPE_CY";
    case DBTYPE_BOOL: return "DBTYPE_BOOL";
    case DBTYPE_I1: return "DBTYPE_I1";
    case DBTYPE_UI1: return "DBTYPE_UI1";
    case DBTYPE_UI2: return "DBTYPE_UI2";
    case DBTYPE_UI4: return "DBTYPE_UI4";
    case DBTYPE_I8: return "DBTYPE_I8";
    case DBTYPE_UI8: return "DBTYPE_UI8";
    case DBTYPE_FILETIME: return "DBTYPE_FILETIME";
    case DBTYPE_BYTES: return "DBTYPE_BYTES";
    case DBTYPE_STR: return "DBTYPE_STR";
    case DBTYPE_WSTR: return "DBTYPE_WSTR";
    default: return "?";
    }
}

/* Build a descriptor from a sequence of (name, dbtype) pairs.  `strict`: raise TypeError /
 * ValueError on a bad shape (Python constructor); otherwise return NULL *without* an exception
 * for a bad shape (decoder probing a stream ObjectEx1).  Names may be bytes (the wire form) or
 * str (encoded as UTF-8 on the wire). */
/* The keyword list of a descriptor: a tuple of (name: bytes, Token) pairs from a sequence of
 * (name: bytes|str, Token) pairs (NULL or None: no keywords).  Tokens only: they are immutable
 * names, so a descriptor can never be part of a reference cycle and needs no GC.  `strict`
 * as for descriptor_build.  Returns a new reference or NULL. */
static PyObject *
keywords_build(MarshalState *st, PyObject *keywords, int strict)
{
    if (keywords == NULL || keywords == Py_None)
        return PyTuple_New(0);
    PyObject *seq = PySequence_Fast(keywords, "DBRowDescriptor keywords must be a sequence");
    if (seq == NULL) {
        if (!strict && PyErr_ExceptionMatches(PyExc_TypeError))
            PyErr_Clear();
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyTuple_New(n);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
            goto bad_shape;
        PyObject *name = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1), *bname;
        if ((PyObject *)Py_TYPE(value) != st->Token)
            goto bad_shape;
        if (PyBytes_Check(name))
            bname = PyBytes_FromStringAndSize(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
        else if (PyUnicode_Check(name))
            bname = PyUnicode_AsEncodedString(name, "utf-8", "surrogateescape");
        else
            goto bad_shape;
        if (bname == NULL)
            goto fail;
        PyObject *kw = PyTuple_Pack(2, bname, value);
        Py_DECREF(bname);
        if (kw == NULL)
            goto fail;
        PyTuple_SET_ITEM(out, i, kw);
    }
    Py_DECREF(seq);
    return out;

bad_shape:
    if (strict)
        PyErr_SetString(PyExc_TypeError,
                        "DBRowDescriptor keywords must be (name: bytes|str, Token) pairs");
fail:
    Py_DECREF(seq);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *
descriptor_build(PyTypeObject *tp, PyObject *columns, PyObject *keywords, int strict)
{
    DescriptorObject *self = NULL;
    PyObject *seq = PySequence_Fast(columns, "DBRowDescriptor columns must be a sequence");
    if (seq == NULL) {
        if (!strict && PyErr_ExceptionMatches(PyExc_TypeError))
            PyErr_Clear();
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    self = (DescriptorObject *)tp->tp_alloc(tp, 0);
    if (self == NULL)
        goto fail;
    self->hash = -1;
    self->ncols = n;
    MarshalState *st = evm_state_from_type(tp);
    if (st == NULL)
        goto fail;
    self->keywords = keywords_build(st, keywords, strict);
    if (self->keywords == NULL)
        goto fail_or_shape;
    self->cols = PyMem_Calloc(n ? (size_t)n : 1, sizeof(EvmColumn));
    self->columns = PyTuple_New(n);
    self->names = PyTuple_New(n);
    self->index = PyDict_New();
    if (self->cols == NULL || self->columns == NULL || self->names == NULL ||
        self->index == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *name, *type, *bname, *sname;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            if (!PyList_Check(pair) || PyList_GET_SIZE(pair) != 2 || !strict)
                goto bad_shape;
            name = PyList_GET_ITEM(pair, 0);
            type = PyList_GET_ITEM(pair, 1);
        }
        else {
            name = PyTuple_GET_ITEM(pair, 0);
            type = PyTuple_GET_ITEM(pair, 1);
        }
        if (!PyLong_Check(type) || PyBool_Check(type))
            goto bad_shape;
        int overflow;
        long t = PyLong_AsLongAndOverflow(type, &overflow);
        if (overflow || dbtype_size(t) < 0) {
            if (strict)
                PyErr_Format(PyExc_ValueError, "unsupported column type %R for column %zd",
                             type, i);
            goto fail_or_shape;
        }
        if (PyBytes_Check(name)) {
            bname = PyBytes_FromStringAndSize(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
            if (bname == NULL)
                goto fail;
            sname = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name),
                                         "surrogateescape");
        }
        else if (PyUnicode_Check(name)) {
            bname = PyUnicode_AsEncodedString(name, "utf-8", "surrogateescape");
            if (bname == NULL)
                goto fail;
            sname = PyUnicode_FromObject(name);
        }
        else {
            goto bad_shape;
        }
        if (sname == NULL) {
            Py_DECREF(bname);
            goto fail;
        }
        PyObject *col = PyTuple_New(2);
        PyObject *idx = PyLong_FromSsize_t(i);
        PyObject *tcode = PyLong_FromLong(t);
        if (col == NULL || idx == NULL || tcode == NULL) {
            Py_XDECREF(col); Py_XDECREF(idx); Py_XDECREF(tcode);
            Py_DECREF(bname); Py_DECREF(sname);
            goto fail;
        }
        /* A repeated name maps to its first column, as a dict built in column order would do
         * in reverse; the first one wins here (setdefault). */
        int rc = 0;
        if (PyDict_SetDefault(self->index, sname, idx) == NULL ||
            PyDict_SetDefault(self->index, bname, idx) == NULL)
            rc = -1;
        Py_DECREF(idx);
        PyTuple_SET_ITEM(col, 0, bname);
        PyTuple_SET_ITEM(col, 1, tcode);
        PyTuple_SET_ITEM(self->columns, i, col);
        PyTuple_SET_ITEM(self->names, i, sname);
        if (rc < 0)
            goto fail;
        self->cols[i].type = (uint8_t)t;
        self->cols[i].size = (uint8_t)dbtype_size(t);
    }
    /* Layout. */
    Py_ssize_t off = 0;
    for (int size = 8; size >= 1; size /= 2) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (self->cols[i].size == size) {
                self->cols[i].pos = (uint32_t)off;
                off += size;
            }
        }
    }
    self->fixed_len = off;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (self->cols[i].type == DBTYPE_BOOL)
            self->cols[i].pos = (uint32_t)self->nbools++;
        else if (self->cols[i].size == 0)
            self->cols[i].pos = (uint32_t)self->nobjs++;
    }
    self->row_len = self->fixed_len + (self->nbools + n + 7) / 8;
    Py_DECREF(seq);
    return (PyObject *)self;

bad_shape:
    if (strict)
        PyErr_SetString(PyExc_TypeError,
                        "DBRowDescriptor columns must be (name: bytes|str, dbtype: int) pairs");
fail_or_shape:
    if (!strict) {
        Py_DECREF(seq);
        Py_XDECREF(self);
        return NULL;
    }
fail:
    Py_DECREF(seq);
    Py_XDECREF(self);
    return NULL;
}

int
evm_descriptor_from_header(MarshalState *st, PyObject *header, PyObject **out)
{
    *out = NULL;
    if (!PyTuple_CheckExact(header) || PyTuple_GET_SIZE(header) < 2 ||
        PyTuple_GET_SIZE(header) > 3)
        return 0;
    PyObject *keywords = NULL;
    if (PyTuple_GET_SIZE(header) == 3) {
        keywords = PyTuple_GET_ITEM(header, 2);
        if (!PyList_CheckExact(keywords))
            return 0;
    }
    PyObject *tok = PyTuple_GET_ITEM(header, 0);
    PyObject *args = PyTuple_GET_ITEM(header, 1);
    if ((PyObject *)Py_TYPE(tok) != st->Token || !PyTuple_CheckExact(args) ||
        PyTuple_GET_SIZE(args) != 1 || !PyTuple_CheckExact(PyTuple_GET_ITEM(args, 0)))
        return 0;
    PyObject *name = PyObject_GetAttr(tok, st->str_name);
    if (name == NULL)
        return -1;
    int eq = PyUnicode_Check(name) ? PyUnicode_Compare(name, st->str_blue_descriptor) : 1;
    Py_DECREF(name);
    if (eq == -1 && PyErr_Occurred())
        return -1;
    if (eq != 0)
        return 0;
    *out = descriptor_build(st->DescriptorType, PyTuple_GET_ITEM(args, 0), keywords, 0);
    if (*out == NULL)
        return PyErr_Occurred() ? -1 : 0;
    return 1;
}

/* DBRowDescriptor(columns, keywords=())
 * --
 * Column layout of packed rows: a sequence of (name, dbtype) pairs, and the header's keyword
 * list of (name, Token) pairs.  Immutable and hashable. */
static PyObject *
descriptor_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"columns", "keywords", NULL};
    PyObject *columns, *keywords = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:DBRowDescriptor", kwlist, &columns,
                                     &keywords))
        return NULL;
    return descriptor_build(tp, columns, keywords, 1);
}

static void
descriptor_dealloc(DescriptorObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->columns);
    Py_XDECREF(self->names);
    Py_XDECREF(self->index);
    Py_XDECREF(self->keywords);
    PyMem_Free(self->cols);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
descriptor_repr(DescriptorObject *self)
{
    PyObject *parts = PyList_New(0), *res = NULL;
    if (parts == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < self->ncols; i++) {
        PyObject *s = PyUnicode_FromFormat("(%R, %s)", PyTuple_GET_ITEM(self->names, i),
                                           dbtype_name(self->cols[i].type));
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    if (sep == NULL)
        goto done;
    PyObject *joined = PyUnicode_Join(sep, parts);
    Py_DECREF(sep);
    if (joined == NULL)
        goto done;
    if (PyTuple_GET_SIZE(self->keywords))
        res = PyUnicode_FromFormat("DBRowDescriptor([%U], keywords=%R)", joined,
                                   self->keywords);
    else
        res = PyUnicode_FromFormat("DBRowDescriptor([%U])", joined);
    Py_DECREF(joined);
done:
    Py_DECREF(parts);
    return res;
}

static int
descriptor_equal(DescriptorObject *a, DescriptorObject *b)
{
    if (a == b)
        return 1;
    int eq = PyObject_RichCompareBool(a->columns, b->columns, Py_EQ);
    if (eq != 1)
        return eq;
    return PyObject_RichCompareBool(a->keywords, b->keywords, Py_EQ);
}

static PyObject *
descriptor_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!Py_IS_TYPE(b, Py_TYPE(a)) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    int eq = descriptor_equal((DescriptorObject *)a, (DescriptorObject *)b);
    if (eq < 0)
        return NULL;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t
descriptor_hash(DescriptorObject *self)
{
    if (self->hash == -1) {
        Py_hash_t h = PyObject_Hash(self->columns);
        if (h == -1)
            return -1;
        if (PyTuple_GET_SIZE(self->keywords)) {
            Py_hash_t k = PyObject_Hash(self->keywords);
            if (k == -1)
                return -1;
            /* unsigned arithmetic: a signed overflow would be undefined behaviour */
            h = (Py_hash_t)(((Py_uhash_t)h * 1000003U) ^ (Py_uhash_t)k);
            if (h == -1)
                h = -2;
        }
        self->hash = h;
    }
    return self->hash;
}

static Py_ssize_t
descriptor_length(DescriptorObject *self)
{
    return self->ncols;
}

static PyObject *
descriptor_get_columns(DescriptorObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->columns);
}

static PyObject *
descriptor_get_names(DescriptorObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->names);
}

static PyObject *
descriptor_get_row_len(DescriptorObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(self->row_len);
}

static PyObject *
descriptor_get_keywords(DescriptorObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->keywords);
}

/* __reduce__: DBRowDescriptor(columns, keywords), for copy and pickle. */
static PyObject *
descriptor_reduce(DescriptorObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(O(OO))", (PyObject *)Py_TYPE(self), self->columns, self->keywords);
}

static PyGetSetDef descriptor_getset[] = {
    {"columns", (getter)descriptor_get_columns, NULL,
     "Tuple of (name: bytes, dbtype: int) pairs, as on the wire.", NULL},
    {"names", (getter)descriptor_get_names, NULL, "Tuple of the column names as str.", NULL},
    {"keywords", (getter)descriptor_get_keywords, NULL,
     "Tuple of the header's (name: bytes, Token) keyword pairs (virtual columns such as\n"
     "stacksize -> util.StackSize); () when it has none.", NULL},
    {"row_len", (getter)descriptor_get_row_len, NULL,
     "Length in bytes of an unpacked row (fixed columns + bit area).", NULL},
    {0},
};

static PyMethodDef descriptor_methods[] = {
    {"__reduce__", (PyCFunction)descriptor_reduce, METH_NOARGS, NULL},
    {0},
};

static PyType_Slot descriptor_slots[] = {
    {Py_tp_doc, "DBRowDescriptor(columns, keywords=())\n--\n\n"
                "Column layout of PackedRows (blue.DBRowDescriptor): a sequence of\n"
                "(name, dbtype) pairs; names are bytes on the wire (str is accepted and\n"
                "encoded as UTF-8).  keywords: the header's (name, Token) pairs (EVEmu's\n"
                "item rows: stacksize/util.StackSize, singleton/util.Singleton).\n"
                "Immutable, hashable, compares by columns and keywords."},
    {Py_tp_new, descriptor_new},
    {Py_tp_dealloc, descriptor_dealloc},
    {Py_tp_repr, descriptor_repr},
    {Py_tp_richcompare, descriptor_richcompare},
    {Py_tp_hash, descriptor_hash},
    {Py_sq_length, descriptor_length},
    {Py_tp_getset, descriptor_getset},
    {Py_tp_methods, descriptor_methods},
    {0, NULL},
};

static PyType_Spec descriptor_spec = {
    .name = "evemu.wire.marshal.DBRowDescriptor",
    .basicsize = sizeof(DescriptorObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = descriptor_slots,
};

/* ---------------------------------------------------------------------------------------- */
/* PackedRow                                                                                  */
/* ---------------------------------------------------------------------------------------- */

PyObject *
evm_packedrow_alloc(MarshalState *st, DescriptorObject *desc)
{
    /* Not tp_alloc: PyType_GenericAlloc would zero the whole object and track it at once.  The
     * row is tracked (or not) by evm_packedrow_set_objs() once its columns are known. */
    PackedRowObject *self = PyObject_GC_NewVar(PackedRowObject, st->PackedRowType,
                                               desc->row_len);
    if (self == NULL)
        return NULL;
    self->desc = (DescriptorObject *)Py_NewRef(desc);
    self->objs = NULL;
    memset(self->data, 0, (size_t)desc->row_len);
    return (PyObject *)self;
}

void
evm_packedrow_set_objs(MarshalState *st, PackedRowObject *row, PyObject *objs)
{
    row->objs = objs;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(objs); i++) {
        if (!evm_row_atom(st, PyTuple_GET_ITEM(objs, i))) {
            PyObject_GC_Track(row);
            return;
        }
    }
}

int
evm_row_atom(MarshalState *st, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    return o == Py_None || tp == &PyBytes_Type || tp == &PyUnicode_Type ||
           tp == &PyLong_Type || tp == &PyBool_Type || tp == &PyFloat_Type ||
           (PyObject *)tp == st->Buffer;
}

/* The value of column i (0 <= i < ncols): a new reference. */
static PyObject *
row_value(PackedRowObject *self, Py_ssize_t i)
{
    DescriptorObject *d = self->desc;
    const unsigned char *data = self->data;
    const unsigned char *bits = data + d->fixed_len;
    const EvmColumn *c = &d->cols[i];
    Py_ssize_t nb = d->nbools + i;
    if (bits[nb >> 3] & (1u << (nb & 7)))
        Py_RETURN_NONE;
    const unsigned char *p = data + c->pos;
    switch (c->type) {
    case DBTYPE_I8:
    case DBTYPE_FILETIME:
        return PyLong_FromLongLong((long long)evm_get_u64(p));
    case DBTYPE_UI8:
        return PyLong_FromUnsignedLongLong((unsigned long long)evm_get_u64(p));
    case DBTYPE_CY:
        return PyFloat_FromDouble((double)(int64_t)evm_get_u64(p) / 10000.0);
    case DBTYPE_R8:
        return PyFloat_FromDouble(PyFloat_Unpack8((const char *)p, 1));
    case DBTYPE_I4:
        return PyLong_FromLong((long)(int32_t)evm_get_u32(p));
    case DBTYPE_UI4:
        return PyLong_FromUnsignedLong((unsigned long)evm_get_u32(p));
    case DBTYPE_R4:
        return PyFloat_FromDouble(PyFloat_Unpack4((const char *)p, 1));
    case DBTYPE_I2:
        return PyLong_FromLong((long)(int16_t)evm_get_u16(p));
    case DBTYPE_UI2:
        return PyLong_FromLong((long)evm_get_u16(p));
    case DBTYPE_I1:
        return PyLong_FromLong((long)(int8_t)p[0]);
    case DBTYPE_UI1:
        return PyLong_FromLong((long)p[0]);
    case DBTYPE_BOOL:
        return PyBool_FromLong(bits[c->pos >> 3] & (1u << (c->pos & 7)));
    default: /* BYTES, STR, WSTR */
        return Py_NewRef(PyTuple_GET_ITEM(self->objs, c->pos));
    }
}

static PyObject *
row_values_tuple(PackedRowObject *self)
{
    Py_ssize_t n = self->desc->ncols;
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = row_value(self, i);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* Column index for a key (int, str or bytes name); -1 with KeyError/IndexError/TypeError. */
static Py_ssize_t
row_index(PackedRowObject *self, PyObject *key)
{
    if (PyLong_Check(key)) {
        Py_ssize_t i = PyLong_AsSsize_t(key);
        if (i == -1 && PyErr_Occurred())
            return -1;
        if (i < 0)
            i += self->desc->ncols;
        if (i < 0 || i >= self->desc->ncols) {
            PyErr_SetString(PyExc_IndexError, "PackedRow index out of range");
            return -1;
        }
        return i;
    }
    if (PyUnicode_Check(key) || PyBytes_Check(key)) {
        PyObject *idx = PyDict_GetItemWithError(self->desc->index, key);
        if (idx == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, key);
            return -1;
        }
        return PyLong_AsSsize_t(idx);
    }
    PyErr_Format(PyExc_TypeError, "PackedRow keys are column numbers or names, not %.100s",
                 Py_TYPE(key)->tp_name);
    return -1;
}

/* Convert one Python value into column c of an unpacked row.  0 or -1 with an exception. */
static int
pack_value(DescriptorObject *d, Py_ssize_t i, PyObject *v, unsigned char *data, PyObject *objs)
{
    const EvmColumn *c = &d->cols[i];
    unsigned char *bits = data + d->fixed_len;
    unsigned char *p = data + c->pos;
    if (v == Py_None) {
        Py_ssize_t nb = d->nbools + i;
        bits[nb >> 3] |= (unsigned char)(1u << (nb & 7));
        if (c->size == 0 && c->type != DBTYPE_BOOL)
            PyTuple_SET_ITEM(objs, c->pos, Py_NewRef(Py_None));
        return 0;
    }
    long long sv;
    unsigned long long uv;
    double dv;
    switch (c->type) {
    case DBTYPE_I8: case DBTYPE_FILETIME: case DBTYPE_I4: case DBTYPE_I2: case DBTYPE_I1:
        sv = PyLong_AsLongLong(v);
        if (sv == -1 && PyErr_Occurred())
            return -1;
        if ((c->type == DBTYPE_I4 && (sv < INT32_MIN || sv > INT32_MAX)) ||
            (c->type == DBTYPE_I2 && (sv < INT16_MIN || sv > INT16_MAX)) ||
            (c->type == DBTYPE_I1 && (sv < INT8_MIN || sv > INT8_MAX)))
            goto range;
        for (int k = 0; k < c->size; k++)      /* little-endian, two's complement */
            p[k] = (unsigned char)((unsigned long long)sv >> (8 * k));
        return 0;
    case DBTYPE_UI8: case DBTYPE_UI4: case DBTYPE_UI2: case DBTYPE_UI1:
        uv = PyLong_AsUnsignedLongLong(v);
        if (uv == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        if ((c->type == DBTYPE_UI4 && uv > UINT32_MAX) ||
            (c->type == DBTYPE_UI2 && uv > UINT16_MAX) ||
            (c->type == DBTYPE_UI1 && uv > UINT8_MAX))
            goto range;
        for (int k = 0; k < c->size; k++)
            p[k] = (unsigned char)(uv >> (8 * k));
        return 0;
    case DBTYPE_CY:
        if (PyLong_Check(v) && !PyBool_Check(v)) {
            int overflow;
            sv = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (sv == -1 && PyErr_Occurred())
                return -1;
            if (overflow || sv > INT64_MAX / 10000 || sv < INT64_MIN / 10000)
                goto range;
            sv *= 10000;
        }
        else {
            dv = PyFloat_AsDouble(v);
            if (dv == -1.0 && PyErr_Occurred())
                return -1;
            dv = nearbyint(dv * 10000.0);
            if (!(dv >= -9223372036854775808.0 && dv < 9223372036854775808.0))
                goto range;
            sv = (long long)dv;
        }
        evm_put_u64(p, (uint64_t)sv);
        return 0;
    case DBTYPE_R8:
        dv = PyFloat_AsDouble(v);
        if (dv == -1.0 && PyErr_Occurred())
            return -1;
        return PyFloat_Pack8(dv, (char *)p, 1);
    case DBTYPE_R4:
        dv = PyFloat_AsDouble(v);
        if (dv == -1.0 && PyErr_Occurred())
            return -1;
        return PyFloat_Pack4(dv, (char *)p, 1);
    case DBTYPE_BOOL: {
        int t = PyObject_IsTrue(v);
        if (t < 0)
            return -1;
        if (t)
            bits[c->pos >> 3] |= (unsigned char)(1u << (c->pos & 7));
        return 0;
    }
    default:
        PyTuple_SET_ITEM(objs, c->pos, Py_NewRef(v));
        return 0;
    }
range:
    PyErr_Format(PyExc_OverflowError, "value %R out of range for column %R (%s)", v,
                 PyTuple_GET_ITEM(d->names, i), dbtype_name(c->type));
    return -1;
}

/* PackedRow(descriptor, values)
 * --
 * A row of `descriptor`; values is a sequence (one per column) or a mapping by column name
 * (missing names are None). */
static PyObject *
packedrow_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"descriptor", "values", NULL};
    PyObject *desc, *values, *objs = NULL, *res = NULL, *seq = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:PackedRow", kwlist, &desc, &values))
        return NULL;
    MarshalState *st = evm_state_from_type(tp);
    if (st == NULL)
        return NULL;
    if (!Py_IS_TYPE(desc, st->DescriptorType)) {
        PyErr_Format(PyExc_TypeError, "PackedRow descriptor must be a DBRowDescriptor, not %.100s",
                     Py_TYPE(desc)->tp_name);
        return NULL;
    }
    DescriptorObject *d = (DescriptorObject *)desc;
    PackedRowObject *row = (PackedRowObject *)evm_packedrow_alloc(st, d);
    objs = PyTuple_New(d->nobjs);
    if (row == NULL || objs == NULL)
        goto done;
    unsigned char *buf = row->data;
    for (Py_ssize_t k = 0; k < d->nobjs; k++)
        PyTuple_SET_ITEM(objs, k, Py_NewRef(Py_None));
    int is_map = PyDict_Check(values) ||
                 (!PyTuple_Check(values) && !PyList_Check(values) && PyMapping_Check(values) &&
                  PyObject_HasAttrString(values, "keys"));
    if (!is_map) {
        seq = PySequence_Fast(values, "PackedRow values must be a sequence or a mapping");
        if (seq == NULL)
            goto done;
        if (PySequence_Fast_GET_SIZE(seq) != d->ncols) {
            PyErr_Format(PyExc_ValueError, "PackedRow needs %zd values, got %zd", d->ncols,
                         PySequence_Fast_GET_SIZE(seq));
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < d->ncols; i++) {
        PyObject *v;
        if (is_map) {
            v = PyObject_GetItem(values, PyTuple_GET_ITEM(d->names, i));
            if (v == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_KeyError))
                    goto done;
                PyErr_Clear();
                v = Py_NewRef(Py_None);
            }
        }
        else {
            /* seq is the caller's list itself: converting a value (__index__,
             * __float__, __bool__) may have shrunk it */
            if (PySequence_Fast_GET_SIZE(seq) != d->ncols) {
                PyErr_SetString(PyExc_RuntimeError,
                                "PackedRow values changed size during construction");
                goto done;
            }
            v = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        }
        const EvmColumn *c = &d->cols[i];
        if (c->size == 0 && c->type != DBTYPE_BOOL) {
            /* objs items are replaced: drop the placeholder None first */
            PyObject *old = PyTuple_GET_ITEM(objs, c->pos);
            PyTuple_SET_ITEM(objs, c->pos, NULL);
            Py_DECREF(old);
        }
        int rc = pack_value(d, i, v, buf, objs);
        Py_DECREF(v);
        if (rc < 0) {
            if (c->size == 0 && c->type != DBTYPE_BOOL && PyTuple_GET_ITEM(objs, c->pos) == NULL)
                PyTuple_SET_ITEM(objs, c->pos, Py_NewRef(Py_None));
            goto done;
        }
    }
    evm_packedrow_set_objs(st, row, objs);
    objs = NULL;
    res = (PyObject *)row;
    row = NULL;
done:
    Py_XDECREF(seq);
    Py_XDECREF(row);
    Py_XDECREF(objs);
    return res;
}

static int
packedrow_traverse(PackedRowObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->desc);
    Py_VISIT(self->objs);
    return 0;
}

static int
packedrow_clear(PackedRowObject *self)
{
    Py_CLEAR(self->desc);
    Py_CLEAR(self->objs);
    return 0;
}

static void
packedrow_dealloc(PackedRowObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (PyObject_GC_IsTracked((PyObject *)self))
        PyObject_GC_UnTrack(self);
    packedrow_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static Py_ssize_t
packedrow_length(PackedRowObject *self)
{
    return self->desc->ncols;
}

static PyObject *
packedrow_item(PackedRowObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= self->desc->ncols) {
        PyErr_SetString(PyExc_IndexError, "PackedRow index out of range");
        return NULL;
    }
    return row_value(self, i);
}

static PyObject *
packedrow_subscript(PackedRowObject *self, PyObject *key)
{
    Py_ssize_t i = row_index(self, key);
    if (i < 0)
        return NULL;
    return row_value(self, i);
}

/* Attribute access reads columns (row.price), as blue.DBRow does.  Names starting with '_' and
 * the names of PackedRow's own methods and properties are never columns (use row['keys'] for a
 * column called "keys"); everything else looks in the column index first, so a column read
 * costs one dict lookup and never raises and discards an AttributeError. */
static int
packedrow_reserved_name(PyObject *name)
{
    static const char *const reserved[] = {"keys", "values", "items", "asdict", "get",
                                           "descriptor", "data", NULL};
    if (!PyUnicode_Check(name) || PyUnicode_GET_LENGTH(name) == 0 ||
        PyUnicode_READ_CHAR(name, 0) == '_')
        return 1;
    for (int i = 0; reserved[i] != NULL; i++)
        if (PyUnicode_CompareWithASCIIString(name, reserved[i]) == 0)
            return 1;
    return 0;
}

static PyObject *
packedrow_getattro(PackedRowObject *self, PyObject *name)
{
    if (!packedrow_reserved_name(name)) {
        PyObject *idx = PyDict_GetItemWithError(self->desc->index, name);
        if (idx != NULL)
            return row_value(self, PyLong_AsSsize_t(idx));
        if (PyErr_Occurred())
            return NULL;
    }
    PyObject *res = PyObject_GenericGetAttr((PyObject *)self, name);
    if (res == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_AttributeError, "PackedRow has no column or attribute %R", name);
    }
    return res;
}

static PyObject *
packedrow_repr(PackedRowObject *self)
{
    int rc = Py_ReprEnter((PyObject *)self);
    if (rc != 0)
        return rc > 0 ? PyUnicode_FromString("PackedRow(...)") : NULL;
    PyObject *parts = PyList_New(0), *res = NULL;
    if (parts == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < self->desc->ncols; i++) {
        PyObject *v = row_value(self, i);
        if (v == NULL)
            goto done;
        PyObject *s = PyUnicode_FromFormat("%U=%R", PyTuple_GET_ITEM(self->desc->names, i), v);
        Py_DECREF(v);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    if (sep == NULL)
        goto done;
    PyObject *joined = PyUnicode_Join(sep, parts);
    Py_DECREF(sep);
    if (joined != NULL) {
        res = PyUnicode_FromFormat("PackedRow(%U)", joined);
        Py_DECREF(joined);
    }
done:
    Py_XDECREF(parts);
    Py_ReprLeave((PyObject *)self);
    return res;
}

static PyObject *
packedrow_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!Py_IS_TYPE(b, Py_TYPE(a)) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    PackedRowObject *x = (PackedRowObject *)a, *y = (PackedRowObject *)b;
    int eq = descriptor_equal(x->desc, y->desc);
    if (eq > 0) {
        /* Fast path: same bytes and same object columns.  Rows differing only in the bytes
         * behind a NULL bit are still equal: fall back to comparing values. */
        if (memcmp(x->data, y->data, (size_t)x->desc->row_len) == 0) {
            eq = PyObject_RichCompareBool(x->objs, y->objs, Py_EQ);
        }
        else {
            PyObject *vx = row_values_tuple(x), *vy = vx ? row_values_tuple(y) : NULL;
            eq = (vx && vy) ? PyObject_RichCompareBool(vx, vy, Py_EQ) : -1;
            Py_XDECREF(vx);
            Py_XDECREF(vy);
        }
    }
    if (eq < 0)
        return NULL;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

/* keys() -> tuple of column names (str) */
static PyObject *
packedrow_keys(PackedRowObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self->desc->names);
}

/* values() -> tuple of column values */
static PyObject *
packedrow_values(PackedRowObject *self, PyObject *Py_UNUSED(ignored))
{
    return row_values_tuple(self);
}

/* items() -> list of (name, value) */
static PyObject *
packedrow_items(PackedRowObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = self->desc->ncols;
    PyObject *l = PyList_New(n);
    if (l == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = row_value(self, i);
        PyObject *t = v ? PyTuple_Pack(2, PyTuple_GET_ITEM(self->desc->names, i), v) : NULL;
        Py_XDECREF(v);
        if (t == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, t);
    }
    return l;
}

/* asdict() -> {name: value} */
static PyObject *
packedrow_asdict(PackedRowObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < self->desc->ncols; i++) {
        PyObject *v = row_value(self, i);
        if (v == NULL || PyDict_SetItem(d, PyTuple_GET_ITEM(self->desc->names, i), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

/* get(key, default=None) */
static PyObject *
packedrow_get(PackedRowObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get() takes 1 or 2 arguments");
        return NULL;
    }
    Py_ssize_t i = row_index(self, args[0]);
    if (i < 0) {
        if (!PyErr_ExceptionMatches(PyExc_KeyError) && !PyErr_ExceptionMatches(PyExc_IndexError))
            return NULL;
        PyErr_Clear();
        return Py_NewRef(nargs == 2 ? args[1] : Py_None);
    }
    return row_value(self, i);
}

/* __reduce__: PackedRow(descriptor, values) */
static PyObject *
packedrow_reduce(PackedRowObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *vals = row_values_tuple(self);
    if (vals == NULL)
        return NULL;
    PyObject *res = Py_BuildValue("(O(OO))", (PyObject *)Py_TYPE(self), self->desc, vals);
    Py_DECREF(vals);
    return res;
}

static PyObject *
packedrow_get_descriptor(PackedRowObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->desc);
}

static PyObject *
packedrow_get_data(PackedRowObject *self, void *Py_UNUSED(c))
{
    return PyBytes_FromStringAndSize((const char *)self->data, Py_SIZE(self));
}

static PyGetSetDef packedrow_getset[] = {
    {"descriptor", (getter)packedrow_get_descriptor, NULL, "The row's DBRowDescriptor.", NULL},
    {"data", (getter)packedrow_get_data, NULL,
     "The unpacked row bytes (fixed columns, then the BOOL and NULL bits).", NULL},
    {0},
};

static PyMethodDef packedrow_methods[] = {
    {"keys", (PyCFunction)packedrow_keys, METH_NOARGS, "keys() -> tuple of column names"},
    {"values", (PyCFunction)packedrow_values, METH_NOARGS, "values() -> tuple of values"},
    {"items", (PyCFunction)packedrow_items, METH_NOARGS, "items() -> list of (name, value)"},
    {"asdict", (PyCFunction)packedrow_asdict, METH_NOARGS, "asdict() -> {name: value}"},
    {"get", (PyCFunction)(void (*)(void))packedrow_get, METH_FASTCALL,
     "get(key, default=None) -> value of a column by number or name"},
    {"__reduce__", (PyCFunction)packedrow_reduce, METH_NOARGS, NULL},
    {0},
};

static PyType_Slot packedrow_slots[] = {
    {Py_tp_doc, "PackedRow(descriptor, values)\n--\n\n"
                "One blue.DBRow (opcode 0x2A).  Columns are decoded when read: row[i],\n"
                "row['name'], row.name, iteration, keys()/values()/items()/asdict().\n"
                "(A column named like a method or starting with '_' is read as row['name'].)\n"
                "CY columns read as int64 / 10000 (float), FILETIME as int, NULL as None."},
    {Py_tp_new, packedrow_new},
    {Py_tp_dealloc, packedrow_dealloc},
    {Py_tp_traverse, packedrow_traverse},
    {Py_tp_clear, packedrow_clear},
    {Py_tp_repr, packedrow_repr},
    {Py_tp_richcompare, packedrow_richcompare},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_getattro, packedrow_getattro},
    {Py_sq_length, packedrow_length},
    {Py_sq_item, packedrow_item},
    {Py_mp_length, packedrow_length},
    {Py_mp_subscript, packedrow_subscript},
    {Py_tp_getset, packedrow_getset},
    {Py_tp_methods, packedrow_methods},
    {0, NULL},
};

static PyType_Spec packedrow_spec = {
    .name = "evemu.wire.marshal.PackedRow",
    .basicsize = EVM_ROW_DATA_OFFSET,
    .itemsize = 1,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = packedrow_slots,
};

int
evm_packedrow_init_types(PyObject *module, MarshalState *st)
{
    st->DescriptorType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &descriptor_spec, NULL);
    if (st->DescriptorType == NULL)
        return -1;
    st->PackedRowType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &packedrow_spec, NULL);
    if (st->PackedRowType == NULL)
        return -1;
    if (PyModule_AddType(module, st->DescriptorType) < 0 ||
        PyModule_AddType(module, st->PackedRowType) < 0)
        return -1;
    return 0;
}
