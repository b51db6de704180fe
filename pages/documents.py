"""Documents: from an invoice line or a purchase order line to its three-way view.

A link opens a line directly: `?invoice=INV-1&line=1` or `?po=PO-1&line=2`.
"""

from __future__ import annotations

import streamlit as st

from kpi.analyses import documents as docs
from kpi.store.database import StoreError
from ui.context import current
from ui.documents import show_invoice_line, show_po_line
from ui.widgets import literal, no_data

INVOICE, ORDER = "An invoice line", "A purchase order line"

ctx = current()
st.title("Documents")
st.caption(
    "The three-way view a controller settles a dispute with: an invoice line with its "
    "purchase order line, that line's goods receipts and the payment; or an order line with "
    "its invoices, receipts and totals. Every row says the file and row it was loaded from."
)

store = ctx.store
try:
    empty = not docs.invoice_ids(store, limit=1) and not docs.order_ids(store, limit=1)
except StoreError:  # no store file yet: nothing loaded
    empty = True
if empty:
    no_data(
        "invoices or purchase orders in the store",
        "Load them on the **Data** page, then look a line up here.",
    )
    st.stop()

params = st.query_params
asked_kind = ORDER if params.get("po") and not params.get("invoice") else INVOICE
asked_id = (params.get("po") if asked_kind == ORDER else params.get("invoice")) or ""
asked_line = params.get("line")

kind = st.radio(
    "Look up", (INVOICE, ORDER), index=(INVOICE, ORDER).index(asked_kind), horizontal=True
)
is_invoice = kind == INVOICE
noun = "invoice" if is_invoice else "purchase order"
left, right = st.columns([2, 1])
typed = left.text_input(
    f"The {noun}'s id",
    value=asked_id if kind == asked_kind else "",
    key=f"docs_id_{'inv' if is_invoice else 'po'}",
    placeholder="e.g. INV-2026-000123" if is_invoice else "e.g. PO-2026-000123",
).strip()
if not typed:
    st.info(f"Type the {noun}'s id (as on the export) to see its documents.")
    st.stop()

lines = docs.invoice_lines(store, typed) if is_invoice else docs.order_lines(store, typed)
if not lines:
    similar = (docs.invoice_ids if is_invoice else docs.order_ids)(store, typed, 10)
    if similar:
        st.warning(
            f"No {noun} {literal(typed)}. Ids starting with it: "
            + ", ".join(literal(s) for s in similar)
            + "."
        )
    else:
        st.warning(
            f"No {noun} {literal(typed)} in the store. Check the id as it is on the export, "
            "or load the file on the **Data** page."
        )
    st.stop()

wanted = int(asked_line) if asked_line and asked_line.isdigit() else None
if typed == asked_id and asked_line and wanted not in lines:
    st.warning(
        f"The {noun} {literal(typed)} has no line {literal(asked_line)}; its lines are "
        + ", ".join(str(n) for n in lines)
        + ". Choose one below."
    )
index = lines.index(wanted) if wanted in lines and typed == asked_id else 0
line = right.selectbox("Line", lines, index=index, key=f"docs_line_{noun}_{typed}")

# the address bar says what is shown, so the link can be shared
st.query_params.update({"invoice" if is_invoice else "po": typed, "line": str(line)})
st.query_params.pop("po" if is_invoice else "invoice", None)

if is_invoice:
    show_invoice_line(store, typed, line)
else:
    show_po_line(store, typed, line)
