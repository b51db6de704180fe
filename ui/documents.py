"""The three-way view on screen: an invoice line or an order line with its documents.

The Documents page and the "rows behind this figure" dialog (ui/rows_behind.py) both call
`show_invoice_line` / `show_po_line`; everything they show comes from
kpi.analyses.documents, and the download holds the whole view through the same safe output
as every other download.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import streamlit as st

from kpi.analyses import documents as docs
from kpi.core.settings import Settings
from kpi.store.database import Store, StoreError
from kpi.store.stores import open_store
from ui.widgets import downloads, literal, show_table

# What each section shows on screen (the download keeps every column, lineage included).
SHOWN = {
    "Invoice line": (
        "invoice_id",
        "invoice_line",
        "supplier",
        "po_id",
        "invoice_date",
        "item_id",
        "quantity",
        "unit_price",
        "amount",
        "currency",
        "display_amount",
    ),
    "Purchase order line": (
        "po_id",
        "po_line",
        "supplier",
        "po_date",
        "approved_date",
        "promised_date",
        "status",
        "item_id",
        "quantity",
        "unit_price",
        "amount",
        "currency",
        "display_amount",
        "received_qty",
    ),
    "Receipts": ("receipt_date", "quantity", "received_to_date", "after_promised_date"),
    "Invoices": (
        "invoice_id",
        "invoice_line",
        "invoice_date",
        "item_id",
        "quantity",
        "unit_price",
        "amount",
        "currency",
        "display_amount",
        "effective_due_date",
        "paid_date",
        "days_late",
        "match_exception",
    ),
    "Payment": (
        "effective_due_date",
        "due_date_from_terms",
        "paid_date",
        "days_to_pay",
        "paid_late",
        "days_late",
        "discount_taken",
        "discount_captured",
        "discount_missed",
        "days_overdue",
    ),
}


@st.cache_data(show_spinner=False)
def _view(
    kind: str,
    path: str,
    version: tuple,
    settings: Settings,
    doc_id: str,
    line: int,
    currency: str | None,
) -> docs.Documents:
    """The documents of one line, cached on the store's version (a new load recomputes)."""
    store = open_store(path, settings)
    if kind == "invoice":
        return docs.invoice_line_documents(store, doc_id, line, currency)
    return docs.po_line_documents(store, doc_id, line, currency)


def _currency() -> str | None:
    ctx = st.session_state.get("_ctx")
    return ctx.currency if ctx is not None else None


def _load(kind: str, store: Store, doc_id: str, line: int) -> docs.Documents | None:
    """The view, or None after saying in words why there is none (never a traceback)."""
    try:
        with st.spinner("Gathering the documents…"):
            return _view(
                kind,
                str(store.location),
                store.version(),
                store.settings,
                doc_id,
                line,
                _currency(),
            )
    except docs.DocumentsError as problem:
        st.warning(literal(problem), icon=":material/search_off:")
    except StoreError as problem:
        st.warning(literal(problem))
    except duckdb.Error:  # e.g. a store written before lineage was kept and never loaded since
        st.error(
            "The documents could not be read from this store. If it was built by an older "
            "version, load a file on the **Data** page (or rebuild the demo with `python -m "
            "kpi demo`) so that it gains the columns this view reads, then try again."
        )
    return None


def show_invoice_line(store: Store, invoice_id: str, invoice_line: int) -> None:
    """An invoice line, its purchase order line, that line's receipts and its payment."""
    view = _load("invoice", store, invoice_id, int(invoice_line))
    if view is not None:
        _show(view, f"inv_{invoice_id}_{invoice_line}")


def show_po_line(store: Store, po_id: str, po_line: int) -> None:
    """A purchase order line, the invoices put on it, its receipts and its totals."""
    view = _load("po", store, po_id, int(po_line))
    if view is not None:
        _show(view, f"po_{po_id}_{po_line}")


def _verdict(text: str) -> None:
    if "exception" in text:
        st.warning(literal(text), icon=":material/warning:")
    elif text.startswith("Three-way match: price within"):
        st.success(literal(text), icon=":material/check_circle:")
    else:
        st.info(literal(text), icon=":material/info:")


def _show(view: docs.Documents, key: str) -> None:
    st.subheader(literal(view.title))
    st.caption(
        "Amounts in each document's own currency; *display amount* and totals also in **"
        + view.currency
        + "**. *Source* is the file, sheet and row of the export each row was loaded from "
        "(not recorded for rows loaded before lineage was kept)."
    )
    for fact in view.facts:
        if fact.startswith("Three-way match"):
            _verdict(fact)
    for section in view.sections:
        _section(section, key)
        if section.title == "Payment":
            for fact in view.facts:
                if not fact.startswith("Three-way match"):
                    st.markdown(literal(fact))
    if view.totals is not None:
        st.markdown("**Totals**")
        # a quantity only where one adds up (not for the open amounts)
        totals = view.totals.with_columns(
            pl.col("quantity").map_elements(lambda q: f"{q:,.3f}", return_dtype=pl.String)
        )
        show_table(totals, key=f"docs_totals_{key}")
    st.markdown("**Download the whole view**")
    downloads(view.table(), view.title, key=f"docs_{key}", scope=None)


def _section(section: docs.Section, key: str) -> None:
    st.markdown(f"**{literal(section.title)}**")
    if section.rows.is_empty():
        st.info(literal(section.note or f"No {section.title.lower()} recorded."))
        return
    if section.note:
        st.caption(literal(section.note))
    show_table(_shown(section), key=f"docs_{section.title}_{key}")


def _shown(section: docs.Section) -> pl.DataFrame:
    """The section's columns for the screen: where the row came from first (in words), then
    the document's own, then the raw lineage with "—" where none was recorded; dates as
    dates (a table would add a midnight nobody recorded)."""
    wanted: tuple[Any, ...] = ("source", *SHOWN.get(section.title, ()), *docs.LINEAGE)
    columns = [c for c in wanted if c in section.rows.columns]
    frame = section.rows.select(columns)
    return frame.with_columns(
        *(pl.col(c).cast(pl.String).fill_null("—") for c in docs.LINEAGE if c in frame.columns),
        *(pl.col(c).dt.to_string("%Y-%m-%d") for c, t in frame.schema.items() if t == pl.Date),
    )
