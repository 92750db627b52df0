"""stackless -- Stackless Python's tasklets, channels and scheduler on stock CPython.

The work is done by the C extension ``stackless._stackless`` (stack switching
through greenlet's C API).  This module re-exports it and, as Stackless did,
makes ``current``, ``main``, ``runcount``, ``threads``, ``debug`` and
``uncollectables`` read-only module properties computed per thread at each
access.  ``TaskletExit`` is also placed in ``builtins``.

The submodules ``stackless.loop``, ``stackless.sync`` and ``stackless.socket``
(tasklet I/O) are separate and imported on demand.
"""
import atexit as _atexit
import sys as _sys
import types as _types

import _stackless
from _stackless import (
    PICKLEFLAGS_PICKLE_CONTEXT,
    PICKLEFLAGS_PRESERVE_AG_FINALIZER,
    PICKLEFLAGS_PRESERVE_TRACING_STATE,
    PICKLEFLAGS_RESET_AG_FINALIZER,
    TaskletExit,
    atomic,
    bomb,
    channel,
    enable_softswitch,
    get_channel_callback,
    get_schedule_callback,
    get_thread_info,
    getcurrent,
    getcurrentid,
    getdebug,
    getmain,
    getruncount,
    getthreads,
    getuncollectables,
    pickle_flags,
    pickle_flags_default,
    run,
    schedule,
    schedule_remove,
    set_channel_callback,
    set_error_handler,
    set_schedule_callback,
    set_wakeup_fd,
    switch_trap,
    tasklet,
)

__all__ = [
    "atomic",
    "bomb",
    "channel",
    "enable_softswitch",
    "get_channel_callback",
    "get_schedule_callback",
    "get_thread_info",
    "getcurrent",
    "getcurrentid",
    "getdebug",
    "getmain",
    "getruncount",
    "getthreads",
    "getuncollectables",
    "pickle_flags",
    "pickle_flags_default",
    "run",
    "schedule",
    "schedule_remove",
    "set_channel_callback",
    "set_error_handler",
    "set_schedule_callback",
    "set_wakeup_fd",
    "switch_trap",
    "tasklet",
    "TaskletExit",
    "stackless",
    "PICKLEFLAGS_PRESERVE_TRACING_STATE",
    "PICKLEFLAGS_PRESERVE_AG_FINALIZER",
    "PICKLEFLAGS_RESET_AG_FINALIZER",
    "PICKLEFLAGS_PICKLE_CONTEXT",
]

# On CPython 3.11, run(timeout) counts ticks with a C trace function chained
# in front of the user's.  sys.settrace() made inside a timed run would remove
# it; this wrapper puts it back in front (it does nothing outside a timed run).
# From 3.12 on the counter is a sys.monitoring tool of its own, which
# sys.settrace does not touch: sys.settrace stays CPython's.
def _make_settrace(orig, retrace):
    def settrace(function):
        orig(function)
        retrace()
    settrace.__doc__ = orig.__doc__
    settrace.__name__ = orig.__name__
    settrace.__qualname__ = orig.__qualname__
    settrace.__wrapped__ = orig
    return settrace


if _sys.version_info < (3, 12) and not hasattr(_sys.settrace, "__wrapped__"):
    _sys.settrace = _make_settrace(_sys.settrace, _stackless._retrace)

# Once atexit handlers run, tasklets are no longer killed or switched to:
# what is still suspended then is left alone (see docs/stackless-core.md).
_atexit.register(_stackless._at_exit)


def __reduce__():
    return "stackless"


def __reduce_ex__(*args):
    return "stackless"


class _StacklessModule(_types.ModuleType):
    """The type of the stackless module: adds the per-thread properties."""

    @property
    def current(self):
        """The currently executing tasklet of this thread."""
        return getcurrent()

    @property
    def main(self):
        """The main tasklet of this thread."""
        return getmain()

    @property
    def runcount(self):
        """The number of runnable tasklets of this thread (current included)."""
        return getruncount()

    @property
    def threads(self):
        """The ids of the threads, the main thread first."""
        return getthreads()

    @property
    def debug(self):
        """Always False (no debug build of the core)."""
        return getdebug()

    @property
    def uncollectables(self):
        """Always empty: no tasklet is kept uncollectable by the core itself."""
        return getuncollectables()

    @property
    def pickle_with_tracing_state(self):
        """Will tasklets save their tracing state when pickled?"""
        return bool(pickle_flags() & PICKLEFLAGS_PRESERVE_TRACING_STATE)

    @pickle_with_tracing_state.setter
    def pickle_with_tracing_state(self, val):
        val = PICKLEFLAGS_PRESERVE_TRACING_STATE if val else 0
        pickle_flags(val, PICKLEFLAGS_PRESERVE_TRACING_STATE)
        pickle_flags_default(val, PICKLEFLAGS_PRESERVE_TRACING_STATE)


_module = _sys.modules[__name__]
_module.__class__ = _StacklessModule
# an odd curiosity kept from Stackless: the module refers to itself
stackless = _module
del _module
