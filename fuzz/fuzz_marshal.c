/* fuzz_marshal.c - libFuzzer harness for the marshal decoder (and the encoder on what it decodes).
 *
 * The codec's C files are compiled into this executable with coverage and sanitizers and
 * registered as the built-in module _evemu_marshal, so `import evemu.wire.marshal` (the
 * Python model from the source tree) picks up the instrumented copy.  Python itself is the
 * ordinary shared libpython.  Build and run: see fuzz/README.md (fuzz/build.sh).
 *
 * Each input: loads(data) must return a value or raise MarshalError; for a value,
 * repr(loads(dumps(value))) must equal repr(value) (our own output decodes to the same thing).
 * Anything else is a bug: the harness prints the Python error and aborts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

PyMODINIT_FUNC PyInit__evemu_marshal(void);

static PyObject *loads, *dumps, *MarshalError, *kwargs;

static void
die(const char *what)
{
    fprintf(stderr, "fuzz_marshal: %s\n", what);
    if (PyErr_Occurred())
        PyErr_Print();
    abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (PyImport_AppendInittab("_evemu_marshal", PyInit__evemu_marshal) < 0)
        die("inittab");
    Py_Initialize();
    const char *repo = getenv("EVEMU_REPO");
    PyObject *sys_path = PySys_GetObject("path");
    PyObject *p = PyUnicode_FromString(repo ? repo : EVEMU_REPO_DEFAULT);
    if (sys_path == NULL || p == NULL || PyList_Insert(sys_path, 0, p) < 0)
        die("sys.path");
    Py_DECREF(p);
    PyObject *mod = PyImport_ImportModule("evemu.wire.marshal");
    if (mod == NULL)
        die("import evemu.wire.marshal");
    PyObject *core = PyImport_ImportModule("_evemu_marshal");
    if (core == NULL)
        die("import _evemu_marshal");
    if (!PyModule_Check(core) || PyModule_GetDef(core) == NULL)
        die("_evemu_marshal is not the built-in copy");
    Py_DECREF(core);
    loads = PyObject_GetAttrString(mod, "loads");
    dumps = PyObject_GetAttrString(mod, "dumps");
    MarshalError = PyObject_GetAttrString(mod, "MarshalError");
    /* Small output cap so zlib inputs cannot exhaust memory. */
    kwargs = Py_BuildValue("{s:n}", "max_size", (Py_ssize_t)(4 << 20));
    if (!loads || !dumps || !MarshalError || !kwargs)
        die("attributes");
    Py_DECREF(mod);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *b = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    PyObject *args = b ? PyTuple_Pack(1, b) : NULL;
    if (args == NULL)
        die("alloc");
    PyObject *v = PyObject_Call(loads, args, kwargs);
    Py_DECREF(args);
    Py_DECREF(b);
    if (v == NULL) {
        if (!PyErr_ExceptionMatches(MarshalError))
            die("loads raised something other than MarshalError");
        PyErr_Clear();
        return 0;
    }
    PyObject *r1 = PyObject_Repr(v);
    if (r1 == NULL) {
        /* repr decodes SubStreams lazily: a bad nested stream raises MarshalError there;
         * an int of thousands of digits hits Python's int-to-str limit (ValueError) */
        if (!PyErr_ExceptionMatches(PyExc_ValueError) &&
            !PyErr_ExceptionMatches(PyExc_RecursionError))
            die("repr");
        PyErr_Clear();
    }
    PyObject *enc = PyObject_CallFunction(dumps, "OO", v, Py_None);
    if (enc == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_RecursionError))
            die("dumps of a decoded value failed");
        PyErr_Clear();
    }
    else {
        PyObject *args2 = PyTuple_Pack(1, enc);
        PyObject *v2 = args2 ? PyObject_Call(loads, args2, kwargs) : NULL;
        Py_XDECREF(args2);
        if (v2 == NULL)
            die("loads(dumps(value)) failed");
        PyObject *r2 = PyObject_Repr(v2);
        if (r1 != NULL && r2 != NULL && PyUnicode_Compare(r1, r2) != 0) {
            PyObject_Print(r1, stderr, 0);
            fprintf(stderr, "\n");
            PyObject_Print(r2, stderr, 0);
            fprintf(stderr, "\n");
            die("round trip changed the value");
        }
        PyErr_Clear();
        Py_XDECREF(r2);
        Py_DECREF(v2);
        Py_DECREF(enc);
    }
    Py_XDECREF(r1);
    Py_DECREF(v);
    return 0;
}
