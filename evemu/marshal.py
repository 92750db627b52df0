"""EVE marshal codec: ``evemu.marshal.loads`` / ``evemu.marshal.dumps`` and the value model.

A thin alias of :mod:`evemu.wire.marshal`, where the documentation lives.
"""
from evemu.wire.marshal import *  # noqa: F401,F403
from evemu.wire.marshal import __all__  # noqa: F401
