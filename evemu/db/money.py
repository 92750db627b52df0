"""ISK amounts, exact to the cent on both backends (migration 400).

PostgreSQL stores every ISK column (``chrCharacters.balance``, ``jnlCharacters.amount`` and
``.balance``) as ``NUMERIC(20,2)``.  SQLite has no decimal type: the columns stay REAL, but every
value written is a whole number of cents computed with :class:`decimal.Decimal` in Python (never
``balance + amount`` in floating point), and a double holds any such value up to 10**13 ISK
exactly enough that ``Decimal(str(value))`` gives the cents back.  So on both, a sum of journal
rows equals the balance to the cent, and ISK moved between characters is conserved exactly.

Use :func:`isk` on every amount before it is added or compared, and :func:`to_db` for what is
bound as a parameter.
"""
from decimal import ROUND_HALF_UP, Decimal

from .migrations import register

__all__ = ["isk", "to_db", "CENT"]

CENT = Decimal("0.01")


def isk(value):
    """``value`` (int, float, str, Decimal or None) as a Decimal of whole cents."""
    if value is None:
        return Decimal("0.00")
    if isinstance(value, float):
        value = repr(value)             # the shortest text that reads back as this float
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_db(conn, amount):
    """``amount`` as a parameter for ``conn``: a Decimal on PostgreSQL (NUMERIC), a float of
    whole cents on SQLite (whose driver binds no Decimal)."""
    from .importer import dialect
    return float(amount) if dialect(conn) == "sqlite" else isk(amount)


_TO_NUMERIC = """
ALTER TABLE chrCharacters ALTER COLUMN balance TYPE NUMERIC(20,2)
    USING round(balance::numeric, 2);
ALTER TABLE "jnlCharacters" ALTER COLUMN "amount" TYPE NUMERIC(20,2)
    USING round("amount"::numeric, 2);
ALTER TABLE "jnlCharacters" ALTER COLUMN "balance" TYPE NUMERIC(20,2)
    USING round("balance"::numeric, 2);
"""

_ROUND_SQLITE = """
UPDATE chrCharacters SET balance = ROUND(balance, 2);
UPDATE "jnlCharacters" SET "amount" = ROUND("amount", 2), "balance" = ROUND("balance", 2);
"""

register(400, "ISK exact to the cent: NUMERIC(20,2) on PostgreSQL, whole cents on SQLite",
         {"sqlite": _ROUND_SQLITE, "postgresql": _TO_NUMERIC})
