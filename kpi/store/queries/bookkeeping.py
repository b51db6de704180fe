"""The SQL of the store's bookkeeping: loads, rejected rows, freshness, and small look-ups.

Constant statements with bound parameters; the few with a name in them (a canonical table,
a view column) are sqlglot trees whose names come through kpi.store.identifiers.
"""

from __future__ import annotations

from sqlglot import exp

from kpi.store import identifiers
from kpi.store.schema import TABLES
from kpi.store.template import fill, literal, render

# Who loaded (loaded_by, loaded_by_name), the file's own name and the identity mode came
# with issue 13: a store not written since lacks them, so they are picked by COLUMNS (only
# those present; `source` always is) rather than named.
LOAD_HISTORY = """
SELECT load_id, table_name,
       COLUMNS(lambda c: list_contains(
           ['source', 'file_name', 'loaded_by', 'loaded_by_name', 'identity_mode'], c)),
       left(content_hash, 12) AS short_hash, content_hash, mapping, status, rows_in,
       rows_loaded, rows_rejected, amount_loaded, started, finished, message
FROM loads ORDER BY load_id DESC
"""

# The file's own name (file_name) is picked like LOAD_HISTORY's: a store from before issue 13
# lacks the column.
REJECTS = """
SELECT r.load_id, l.table_name, l.source,
       COLUMNS(lambda c: list_contains(['file_name'], c)),
       r.row_number, r.reason, r.raw_row
FROM rejects r JOIN loads l USING (load_id)
WHERE ($load_id IS NULL OR r.load_id = $load_id)
ORDER BY r.load_id DESC, r.row_number
LIMIT $limit
"""

# The business date that tells how recent each table's content is.
FRESHNESS_COLUMN = {
    "contracts": "start_date",
    "purchase_orders": "po_date",
    "goods_receipts": "receipt_date",
    "invoices": "invoice_date",
    "budgets": "period",
    "inventory": "snapshot_date",
    "savings_initiatives": "start_date",
    "price_outlook": "quarter",
    "fx_rates": "date",
}

_FRESHNESS = """
SELECT __name__ AS table_name, count(*) AS rows, CAST(max(__latest__) AS VARCHAR) AS latest_data,
       (SELECT max(finished) FROM loads WHERE table_name = __name__ AND status = 'loaded')
           AS last_loaded
FROM __table__
"""


def table_freshness(table: str) -> str:
    """Rows, latest business date and last successful load of one canonical table."""
    if table not in TABLES:
        raise ValueError(f"unknown table '{table}'")
    latest = FRESHNESS_COLUMN.get(table)
    return render(
        fill(
            _FRESHNESS,
            name=literal(table),
            latest=identifiers.column(latest) if latest else exp.Null(),
            table=identifiers.table(table),
        )
    )


def distinct_values(view: str, column: str) -> str:
    """SELECT of a view column's distinct non-null values (names checked by the caller)."""
    q = (
        exp.select(identifiers.column(column))
        .distinct()
        .from_(identifiers.table(view))
        .where(exp.Not(this=exp.Is(this=identifiers.column(column), expression=exp.Null())))
        .order_by(exp.Literal.number(1))
    )
    return render(q)


def date_bounds(view: str, column: str) -> str:
    """SELECT of the first and last date of a view's date column."""
    c = identifiers.column(column)
    bounds = exp.select(exp.Min(this=c), exp.Max(this=c.copy()))
    return render(bounds.from_(identifiers.table(view)))
