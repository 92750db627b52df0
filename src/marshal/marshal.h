/* marshal.h - shared declarations of the EVE marshal codec (_evemu_marshal).
 *
 * Files, one concept each:
 *   module.c     module state, the Python-facing loads()/dumps(), type registration, zlib glue
 *   decode.c     the stream decoder (bytes -> model objects)
 *   encode.c     the stream encoder (model objects -> bytes)
 *   packedrow.c  DBRowDescriptor and PackedRow (0x2A) heap types, the zero-nibble RLE
 *   strtable.c   the fixed 195-entry string table (0x11)
 *   adler32.c    the checksum of opcode 0x1C
 *
 * The format is described in ../shared/protocol/eve-protocol.md section 2.  All multi-byte
 * integers and floats on the wire are little-endian; this code never assumes the host's order.
 */
#ifndef EVEMU_MARSHAL_H
#define EVEMU_MARSHAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>

/* ------------------------------------------------------------------------------------------ */
/* Opcodes (low 6 bits of the header byte)                                                     */
/* ------------------------------------------------------------------------------------------ */
enum {
    OP_NONE = 0x01, OP_TOKEN = 0x02, OP_INT64 = 0x03, OP_INT32 = 0x04, OP_INT16 = 0x05,
    OP_INT8 = 0x06, OP_MINUSONE = 0x07, OP_ZERO = 0x08, OP_ONE = 0x09, OP_FLOAT = 0x0A,
    OP_FLOAT0 = 0x0B, OP_COMPLEX = 0x0C, OP_BUFFER = 0x0D, OP_STR0 = 0x0E, OP_STR1 = 0x0F,
    OP_STRSHORT = 0x10, OP_STRTABLE = 0x11, OP_UCS2 = 0x12, OP_STR = 0x13, OP_TUPLE = 0x14,
    OP_LIST = 0x15, OP_DICT = 0x16, OP_INSTANCE = 0x17, OP_BLUE = 0x18, OP_SUBSTRUCT = 0x19,
    OP_OLDPICKLE = 0x1A, OP_REF = 0x1B, OP_CHECKSUM = 0x1C, OP_TRUE = 0x1F, OP_FALSE = 0x20,
    OP_CPICKLE = 0x21, OP_OBJEX1 = 0x22, OP_OBJEX2 = 0x23, OP_TUPLE0 = 0x24, OP_TUPLE1 = 0x25,
    OP_LIST0 = 0x26, OP_LIST1 = 0x27, OP_USTR0 = 0x28, OP_UCS2CHAR = 0x29, OP_PACKEDROW = 0x2A,
    OP_SUBSTREAM = 0x2B, OP_TUPLE2 = 0x2C, OP_MARK = 0x2D, OP_UTF8 = 0x2E, OP_VARINT = 0x2F,
};
#define OP_MASK 0x3F
#define FLAG_SAVE 0x40
#define FLAG_UNKNOWN 0x80
#define STREAM_HEADER 0x7E
#define ZLIB_HEADER 0x78

#define EVM_STRING_TABLE_SIZE 195
extern const char *const evm_string_table[EVM_STRING_TABLE_SIZE + 1];

/* OLE DB column type codes used by blue.DBRowDescriptor. */
enum {
    DBTYPE_EMPTY = 0x00, DBTYPE_I2 = 0x02, DBTYPE_I4 = 0x03, DBTYPE_R4 = 0x04, DBTYPE_R8 = 0x05,
    DBTYPE_CY = 0x06, DBTYPE_BOOL = 0x0B, DBTYPE_I1 = 0x10, DBTYPE_UI1 = 0x11, DBTYPE_UI2 = 0x12,
    DBTYPE_UI4 = 0x13, DBTYPE_I8 = 0x14, DBTYPE_UI8 = 0x15, DBTYPE_FILETIME = 0x40,
    DBTYPE_BYTES = 0x80, DBTYPE_STR = 0x81, DBTYPE_WSTR = 0x82,
};

/* ------------------------------------------------------------------------------------------ */
/* Module state                                                                                */
/* ------------------------------------------------------------------------------------------ */
typedef struct {
    PyObject *MarshalError;        /* the one exception of loads(); ValueError subclass */
    PyTypeObject *DescriptorType;  /* DBRowDescriptor (packedrow.c) */
    PyTypeObject *PackedRowType;   /* PackedRow (packedrow.c) */
    /* Model types written in Python (evemu/wire/marshal.py), handed over by _register_types();
     * NULL until then, and loads()/dumps() refuse to run before it. */
    PyObject *Token, *Instance, *ObjectEx1, *ObjectEx2, *SubStream, *SubStruct, *Buffer;
    PyObject *substream_from_raw;  /* SubStream._from_raw: raw bytes -> SubStream */
    /* Instance's `name` and `state` slot descriptors: the decoder fills a new Instance through
     * them instead of calling the class (no Python frame per packet); NULL: call the class. */
    PyObject *inst_name_slot, *inst_state_slot;
    /* Likewise SubStream's `_raw` / `_value` slots and its "not decoded yet" sentinel. */
    PyObject *ss_raw_slot, *ss_value_slot, *ss_missing;
    PyObject *strtable;            /* tuple: index -> bytes (index 0 is None) */
    PyObject *strtable_index;      /* dict: bytes -> int index */
    PyObject *zlib_decompressobj;  /* zlib.decompressobj */
    PyObject *zlib_compress;       /* zlib.compress */
    PyObject *str_name, *str_state, *str_header, *str_list, *str_dict, *str_value, *str_raw,
             *str_eof, *str_unused_data, *str_blue_descriptor, *str_decompress, *str_little;
    /* ints wider than 64 bits: int.bit_length, int.to_bytes, int.from_bytes, ("signed",).  Held
     * here, not looked up by a C string per call: a fresh name string per lookup is kept alive
     * by CPython's type method cache (up to 4,096 of them on 3.12), which looks like a leak. */
    PyObject *long_bit_length, *long_to_bytes, *long_from_bytes, *kwnames_signed;
} MarshalState;

extern struct PyModuleDef evm_module_def;

/* Instance(name, state) for the decoder (module.c). */
PyObject *evm_new_instance(MarshalState *st, PyObject *name, PyObject *state);
/* SubStream._from_raw(raw) for the decoder (module.c). */
PyObject *evm_new_substream(MarshalState *st, PyObject *raw);

static inline MarshalState *
evm_state(PyObject *module)
{
    return (MarshalState *)PyModule_GetState(module);
}

/* State from an instance of one of our heap types (NULL with an exception if not found). */
MarshalState *evm_state_from_type(PyTypeObject *tp);

/* ------------------------------------------------------------------------------------------ */
/* DBRowDescriptor and PackedRow (packedrow.c)                                                 */
/* ------------------------------------------------------------------------------------------ */
typedef struct {
    uint8_t type;    /* DBTYPE_* */
    uint8_t size;    /* bytes in the fixed area, 0 for BOOL and object columns */
    uint32_t pos;    /* fixed: byte offset; BOOL: bit index in the bit area; object: index */
} EvmColumn;

typedef struct {
    PyObject_HEAD
    PyObject *columns;      /* tuple of (name: bytes, type: int) 2-tuples, the wire form */
    PyObject *names;        /* tuple of str, one per column */
    PyObject *index;        /* dict: str name -> int and bytes name -> int */
    PyObject *keywords;     /* tuple of (name: bytes, Token) 2-tuples: the header's keyword
                             * list (virtual columns such as util.StackSize); () if none */
    Py_ssize_t ncols;
    Py_ssize_t fixed_len;   /* bytes of fixed-size columns */
    Py_ssize_t row_len;     /* fixed_len + ceil((nbools + ncols) / 8) */
    Py_ssize_t nbools;
    Py_ssize_t nobjs;       /* BYTES/STR/WSTR columns: objects follow the blob */
    Py_hash_t hash;         /* cached, -1 until computed */
    EvmColumn *cols;        /* ncols entries, PyMem-allocated, owned */
} DescriptorObject;

/* A row owns its unpacked bytes inline (one allocation per row).  It is a GC type because an
 * object column may hold any value (EVEmu sends util.KeyVal instances in BYTES columns), but a
 * row whose object columns hold only atoms (None, bool, int, float, exact bytes/str, Buffer)
 * cannot be part of a cycle and is untracked at creation, as CPython does for such tuples. */
typedef struct {
    PyObject_VAR_HEAD       /* ob_size == desc->row_len */
    DescriptorObject *desc; /* strong */
    PyObject *objs;         /* tuple of desc->nobjs atoms (the string columns); NULL while built */
    unsigned char data[1];  /* the unpacked row: fixed columns, then the BOOL and NULL bits */
} PackedRowObject;

#define EVM_ROW_DATA_OFFSET offsetof(PackedRowObject, data)

/* New row of desc with zeroed data and objs NULL; the caller fills data and sets objs. */
PyObject *evm_packedrow_alloc(MarshalState *st, DescriptorObject *desc);

/* 1 if o is an atom (see above), else 0. */
int evm_row_atom(MarshalState *st, PyObject *o);

/* Set row->objs (stolen) and untrack the row when every object column is an atom. */
void evm_packedrow_set_objs(MarshalState *st, PackedRowObject *row, PyObject *objs);

int evm_packedrow_init_types(PyObject *module, MarshalState *st);

/* If header is (Token 'blue.DBRowDescriptor', (((name, type), ...),)[, [(name, Token)...]])
 * with known types (the third item is the keyword list some rows carry), store a
 * new DBRowDescriptor in *out and return 1; return 0 if it does not have that shape; -1 on a
 * Python error (MemoryError). */
int evm_descriptor_from_header(MarshalState *st, PyObject *header, PyObject **out);


/* Zero-nibble RLE.  unpack: fills out[0..out_len) (out must be zeroed) from in[0..in_len);
 * returns 0, or -1 if a run would fall past out_len, with *bad the offset in `in` of the control
 * byte at fault (the caller raises "Invalid RLE string").
 * pack: writes at most evm_rle_bound(in_len) bytes to out, returns the length. */
int evm_rle_unpack(const unsigned char *in, Py_ssize_t in_len, unsigned char *out,
                   Py_ssize_t out_len, Py_ssize_t *bad);
Py_ssize_t evm_rle_pack(const unsigned char *in, Py_ssize_t in_len, unsigned char *out);
#define evm_rle_bound(n) ((n) + (n) / 8 + 2)

/* ------------------------------------------------------------------------------------------ */
/* Decoder / encoder entry points                                                              */
/* ------------------------------------------------------------------------------------------ */
/* Decode one complete stream (starting with 0x7E; zlib already removed); the caller keeps buf
 * alive.  max_size also bounds the total unpacked size of all PackedRows (a 4-byte row that
 * references a wide descriptor unpacks to the descriptor's row length).  allow_trailing: ignore
 * bytes between the root object and the slot map (EVEmu does). */
PyObject *evm_decode(MarshalState *st, const unsigned char *buf, Py_ssize_t len, int max_depth,
                     Py_ssize_t max_size, int allow_trailing);

/* Encode obj into a new bytes object holding one complete stream (uncompressed). */
PyObject *evm_encode(MarshalState *st, PyObject *obj, int max_depth);

/* Raise MarshalError(msg) with .offset = offset (offset < 0: None). Returns NULL. */
PyObject *evm_error(MarshalState *st, Py_ssize_t offset, const char *fmt, ...);

/* The raised exception as one object (normalized), and back.  PyErr_GetRaisedException is
 * 3.12+; 3.11 needs PyErr_Fetch, which 3.12 deprecates. */
static inline PyObject *
evm_fetch_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
#endif
}

static inline void
evm_restore_exception(PyObject *exc)   /* steals exc */
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                  PyException_GetTraceback(exc));
#endif
}

uint32_t evm_adler32(const unsigned char *p, Py_ssize_t n);

/* Little-endian readers/writers that never assume the host order or alignment. */
static inline uint16_t evm_get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t evm_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t evm_get_u64(const unsigned char *p)
{
    return (uint64_t)evm_get_u32(p) | ((uint64_t)evm_get_u32(p + 4) << 32);
}
static inline void evm_put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static inline void evm_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static inline void evm_put_u64(unsigned char *p, uint64_t v)
{
    evm_put_u32(p, (uint32_t)v);
    evm_put_u32(p + 4, (uint32_t)(v >> 32));
}

#endif /* EVEMU_MARSHAL_H */
