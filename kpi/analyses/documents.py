"""From a row to its documents: the three-way view a controller settles a dispute with.

An invoice line with its order line, that line's goods receipts, its payment and its match
verdict; an order line with its invoices, receipts and totals (ordered, received,
invoiced, paid, open). Every row carries the lineage it was loaded with (file, sheet, row
of the export, load), so a person can open the line of the file it came from. Payment
facts come from the `payments` view and the verdict from `invoice_match`, so they say what
the KPIs count; money is Decimal, in the document's currency and, in totals, in the display
currency too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from kpi.store.database import Store
from kpi.store.queries import documents as q
from kpi.store.query import fetch_frame, run

CENT = Decimal("0.01")
LINEAGE = ("source_file", "source_sheet", "source_row", "load_id")
NOT_RECORDED = "not recorded"

# How an invoice line is put on an order line (said on the screen beside the choice).
ORDER_LINE_RULE = (
    "Invoices name their order but not its line. An invoice line goes to the order's lines "
    "of the same item, else to all the order's lines; among those, the invoices fill the "
    "lines in line order (in invoice order: date, id, line), and each invoice line lands on "
    "the first line not yet filled by the invoices before it (the last line when all are "
    "filled). Amounts are compared in the order's currency, an invoice in another currency "
    "converted at its date's rates."
)


class DocumentsError(ValueError):
    """A document asked for that is not in the store: the message says what to check."""


@dataclass(frozen=True)
class Section:
    """One block of the view: its rows (with lineage) and, when it has none, why."""

    title: str
    rows: pl.DataFrame
    note: str | None = None  # a missing document said in words, or how the rows were chosen


@dataclass(frozen=True)
class Documents:
    """An invoice line's or an order line's documents, section by section."""

    title: str
    currency: str  # the display currency of `display_*` amounts and totals
    sections: list[Section]
    facts: list[str] = field(default_factory=list)  # payment and match verdicts, in words
    totals: pl.DataFrame | None = None

    def table(self) -> pl.DataFrame:
        """The whole view in one table (a `section` column first): what a download holds."""
        parts = [s.rows.with_columns(pl.lit(s.title).alias("section")) for s in self.sections]
        if self.totals is not None:
            parts.append(self.totals.with_columns(pl.lit("Totals").alias("section")))
        parts = [p for p in parts if p.height]
        if not parts:
            return pl.DataFrame({"section": []}, schema={"section": pl.String})
        frame = pl.concat(parts, how="diagonal_relaxed")
        return frame.select("section", pl.exclude("section"))


def where_from(row: dict[str, Any]) -> str:
    """A row's lineage in words: file, sheet, row of the export and load; else not recorded."""
    if row.get("source_file") is None:
        return NOT_RECORDED
    parts = [str(row["source_file"])]
    if row.get("source_sheet"):
        parts.append(f"sheet {row['source_sheet']}")
    if row.get("source_row") is not None:
        parts.append(f"row {row['source_row']}")
    text = ", ".join(parts)
    return f"{text} (load {row['load_id']})" if row.get("load_id") is not None else text


def _with_source(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with a `source` column saying where each row came from (lineage kept)."""
    sources = [where_from(r) for r in frame.select(LINEAGE).iter_rows(named=True)]
    return frame.with_columns(pl.Series("source", sources, dtype=pl.String))


class _Reader:
    """One read connection for all the statements of a view (the views are created once),
    binding to each statement the parameters it names."""

    def __init__(self, con: Any):
        self.con = con

    def __call__(self, query: str, params: dict[str, Any]) -> pl.DataFrame:
        named = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", query))
        return fetch_frame(self.con, query, {k: v for k, v in params.items() if k in named})


def _currency(store: Store, currency: str | None) -> str:
    return (currency or store.settings.reporting_currency).upper()


def _money(value: object) -> str:
    return f"{Decimal(str(value)):,.2f}" if value is not None else "—"


# ---- an invoice line ------------------------------------------------------------------------
def invoice_line_documents(
    store: Store, invoice_id: str, invoice_line: int, currency: str | None = None
) -> Documents:
    """The invoice line, its order line (ORDER_LINE_RULE), that line's receipts, the payment
    and the match verdict. Raises DocumentsError when the store has no such line."""
    display = _currency(store, currency)
    with store.read(display) as con:
        return _invoice_view(_Reader(con), store, invoice_id, int(invoice_line), display)


def _invoice_view(
    read: _Reader, store: Store, invoice_id: str, invoice_line: int, display: str
) -> Documents:
    invoice = read(q.INVOICE_LINE, {"invoice_id": invoice_id, "invoice_line": invoice_line})
    if invoice.is_empty():
        lines = read(q.INVOICE_LINES, {"invoice_id": invoice_id})["invoice_line"].to_list()
        if not lines:
            raise DocumentsError(
                f"No invoice {invoice_id} in the store. Check the id (as on the invoice "
                "export), or load the invoices file on the Data page."
            )
        raise DocumentsError(
            f"Invoice {invoice_id} has no line {invoice_line}; its lines are "
            f"{', '.join(str(n) for n in lines)}."
        )
    head = invoice.row(0, named=True)
    title = f"Invoice {invoice_id} line {invoice_line}"
    sections = [Section("Invoice line", _with_source(invoice))]
    po_id = head["po_id"]
    placed = None
    if po_id is None:
        sections += [
            Section("Purchase order line", pl.DataFrame(), f"{title} names no purchase order."),
            Section("Receipts", pl.DataFrame(), "No purchase order, so no goods receipt."),
        ]
    else:
        invoices = _order_invoices(read, store, po_id, None)
        mine = invoices.filter(
            (pl.col("invoice_id") == invoice_id) & (pl.col("invoice_line") == int(invoice_line))
        )
        order = read(q.ORDER_LINES, {"po_id": po_id, "po_line": None, "display": display})
        if order.is_empty() or mine.is_empty():
            sections += [
                Section(
                    "Purchase order line",
                    pl.DataFrame(),
                    f"{title} names order {po_id}, which is not among the purchase orders "
                    "loaded: load the purchase orders on the Data page, or correct the "
                    "invoice's PO number at its source.",
                ),
                Section("Receipts", pl.DataFrame(), f"No order {po_id}, so no goods receipt."),
            ]
        else:
            placed = mine.row(0, named=True)
            po_line = placed["po_line"]
            how = (
                f"its item {head['item_id']} is on this line of the order"
                if placed["item_on_order"]
                else "filled in line order (the order has no line of the invoice's item)"
            )
            sections.append(
                Section(
                    "Purchase order line",
                    _with_source(order.filter(pl.col("po_line") == po_line)),
                    f"Order {po_id} line {po_line}: {how}. {ORDER_LINE_RULE}",
                )
            )
            sections.append(_receipts(read, po_id, po_line))
    payment = placed or _payment(read, invoice_id, invoice_line)
    # the amount in the display currency as spend and the payment KPIs have it
    sections[0] = Section(
        "Invoice line",
        sections[0].rows.with_columns(
            pl.Series("display_amount", [payment["display_amount"]], dtype=pl.Decimal(18, 2))
        ),
    )
    sections.append(
        Section(
            "Payment",
            _payment_rows(payment),
            "The paid date and discount taken are recorded on the invoice line (its source "
            "above); due date, lateness and discounts by the rules of the payment KPIs.",
        )
    )
    facts = [payment_words(payment, display), match_words(payment)]
    return Documents(title, display, sections, facts)


def _payment(read: _Reader, invoice_id: str, invoice_line: int) -> dict[str, Any]:
    frame = read(q.INVOICE_PAYMENT, {"invoice_id": invoice_id, "invoice_line": invoice_line})
    return frame.row(0, named=True)


PAYMENT_COLUMNS = (
    "due_date",
    "effective_due_date",
    "due_date_from_terms",
    "paid_date",
    "days_to_pay",
    "paid_late",
    "days_late",
    "discount_taken",
    "discount_available",
    "discount_captured",
    "discount_missed",
    "days_overdue",
    "as_of_date",
)


def _payment_rows(payment: dict[str, Any]) -> pl.DataFrame:
    """The payment facts of one line as a one-row table (what the `payments` view says)."""
    return pl.DataFrame([{k: payment.get(k) for k in PAYMENT_COLUMNS}])


def payment_words(p: dict[str, Any], currency: str) -> str:
    """The payment of a line in one sentence, by the rules of the payments view."""
    due = p.get("effective_due_date")
    due_text = f"due {due}" + (" (invoice date plus terms)" if p.get("due_date_from_terms") else "")
    if p.get("is_credit_note"):
        return "Credit note: judged neither on time nor late, and offers no discount."
    if p.get("paid_date") is None:
        if p.get("days_overdue"):
            return (
                f"Not paid; {due_text}, {p['days_overdue']} days overdue on the last data day "
                f"({p['as_of_date']})."
            )
        return f"Not paid yet; {due_text}." if due else "Not paid yet; no due date known."
    text = f"Paid on {p['paid_date']}, {p['days_to_pay']} days after the invoice date; {due_text}"
    if due is None:
        text += "; no due date known, so neither on time nor late"
    elif p.get("paid_late"):
        text += f"; paid {p['days_late']} days late"
    else:
        text += "; paid on time"
    if p.get("discount_captured"):
        text += f"; discount taken {_money(p['discount_captured'])} {currency}"
    elif p.get("discount_missed"):
        text += f"; discount of {_money(p['discount_available'])} {currency} missed"
    return text + "."


def match_words(m: dict[str, Any]) -> str:
    """The three-way match verdict of a line, as the invoice_match view judges it."""
    if not m.get("matchable"):
        return (
            "Three-way match: not judged (a credit note, a line without an item, or an order "
            "that is not loaded)."
        )
    problems = []
    if m.get("price_above_po"):
        problems.append(f"unit price above the order's {m['po_unit_price']}")
    if m.get("quantity_above_received"):
        problems.append(
            f"{m['invoiced_qty_to_date']} invoiced on the order for this item so far, above "
            f"the {m['received_qty_at_invoice']} received by the invoice date"
        )
    if problems:
        return "Three-way match exception: " + "; ".join(problems) + "."
    return (
        "Three-way match: price within the order's, quantity within what was received by "
        "the invoice date."
    )


def _receipts(read: _Reader, po_id: str, po_line: int) -> Section:
    rows = read(q.RECEIPTS, {"po_id": po_id, "po_line": po_line})
    note = None if rows.height else f"No goods receipt recorded for {po_id} line {po_line}."
    return Section("Receipts", _with_source(rows) if rows.height else rows, note)


def _order_invoices(read: _Reader, store: Store, po_id: str, po_line: int | None) -> pl.DataFrame:
    params = {"po_id": po_id, "po_line": po_line, "base": store.settings.reporting_currency}
    return read(q.ORDER_INVOICES, params)


# ---- an order line --------------------------------------------------------------------------
def po_line_documents(
    store: Store, po_id: str, po_line: int, currency: str | None = None
) -> Documents:
    """The order line, the invoice lines put on it (ORDER_LINE_RULE), its receipts, and the
    totals ordered, received, invoiced, paid and open. Raises DocumentsError when the store
    has no such line."""
    display = _currency(store, currency)
    with store.read(display) as con:
        return _order_view(_Reader(con), store, po_id, int(po_line), display)


def _order_view(read: _Reader, store: Store, po_id: str, po_line: int, display: str) -> Documents:
    order = read(q.ORDER_LINES, {"po_id": po_id, "po_line": None, "display": display})
    if order.is_empty():
        raise DocumentsError(
            f"No purchase order {po_id} in the store. Check the id (as on the order export), "
            "or load the purchase orders file on the Data page."
        )
    line = order.filter(pl.col("po_line") == int(po_line))
    if line.is_empty():
        raise DocumentsError(
            f"Purchase order {po_id} has no line {po_line}; its lines are "
            f"{', '.join(str(n) for n in order['po_line'].to_list())}."
        )
    title = f"Purchase order {po_id} line {po_line}"
    invoices = _order_invoices(read, store, po_id, po_line)
    receipts = _receipts(read, po_id, po_line)
    sections = [
        Section("Purchase order line", _with_source(line)),
        Section(
            "Invoices",
            _with_source(invoices) if invoices.height else invoices,
            ORDER_LINE_RULE
            if invoices.height
            else f"No invoice recorded for {po_id} line {po_line}. {ORDER_LINE_RULE}",
        ),
        receipts,
    ]
    totals = order_line_totals(line.row(0, named=True), invoices, receipts.rows, display)
    return Documents(title, display, sections, [], totals)


def _sum(values: list[Any]) -> Decimal:
    return sum((Decimal(str(v)) for v in values if v is not None), Decimal(0))


def _display_sum(values: list[Any]) -> Decimal | None:
    """A sum in the display currency; None when a value has no rate (nothing hidden)."""
    return None if any(v is None for v in values) else _sum(values)


def order_line_totals(
    line: dict[str, Any], invoices: pl.DataFrame, receipts: pl.DataFrame, display: str
) -> pl.DataFrame:
    """Ordered, received, invoiced, paid and the two open amounts of one order line: in the
    order's currency (invoices in another currency at their date's rates) and in `display`.

    Received value is the received quantity at the order's unit price, at most the line's
    amount (budget_vs_actual's accrual rule); open to invoice is ordered less invoiced; open
    to pay is invoiced less paid (credit notes count with their sign). In `display`: ordered
    as po_lines shows it, received and open to invoice at the order date's rate, invoiced,
    paid and open to pay at each invoice date's rate (as spend shows them)."""
    currency = line["currency"]
    factor = line.get("display_factor")
    ordered = Decimal(str(line["amount"]))
    received_qty = _sum(receipts["quantity"].to_list()) if receipts.height else Decimal(0)
    price = Decimal(str(line["unit_price"])) if line.get("unit_price") is not None else Decimal(0)
    received = min(ordered, (received_qty * price).quantize(CENT))
    paid_rows = invoices.filter(pl.col("paid_date").is_not_null()) if invoices.height else invoices

    def column(frame: pl.DataFrame, name: str) -> list[Any]:
        return frame[name].to_list() if frame.height else []

    invoiced = _sum(column(invoices, "order_amount"))
    paid = _sum(column(paid_rows, "order_amount"))

    def shown(amount: Decimal) -> Decimal | None:
        return None if factor is None else (amount * Decimal(str(factor))).quantize(CENT)

    invoiced_display = _display_sum(column(invoices, "display_amount"))
    paid_display = _display_sum(column(paid_rows, "display_amount"))
    ordered_display = (
        Decimal(str(line["display_amount"]))
        if line.get("display_amount") is not None
        else shown(ordered)
    )
    rows = [
        ("Ordered", line.get("quantity"), ordered, ordered_display),
        ("Received", received_qty, received, shown(received)),
        ("Invoiced", _sum(column(invoices, "quantity")), invoiced, invoiced_display),
        ("Paid", _sum(column(paid_rows, "quantity")), paid, paid_display),
        # the order's rate for what is still to invoice; the invoices' own for what is
        # still to pay (a rate difference between order and invoice dates is not "open")
        (
            "Open to invoice (ordered less invoiced)",
            None,
            ordered - invoiced,
            shown(ordered - invoiced),
        ),
        (
            "Open to pay (invoiced less paid)",
            None,
            invoiced - paid,
            None
            if invoiced_display is None or paid_display is None
            else invoiced_display - paid_display,
        ),
    ]
    return pl.DataFrame(
        {
            "measure": [r[0] for r in rows],
            "quantity": [None if r[1] is None else Decimal(str(r[1])) for r in rows],
            "amount": [r[2] for r in rows],
            "currency": [currency] * len(rows),
            "display_amount": [r[3] for r in rows],
            "display_currency": [display] * len(rows),
        },
        schema={
            "measure": pl.String,
            "quantity": pl.Decimal(18, 3),
            "amount": pl.Decimal(18, 2),
            "currency": pl.String,
            "display_amount": pl.Decimal(18, 2),
            "display_currency": pl.String,
        },
    )


# ---- what a person can pick -----------------------------------------------------------------
def invoice_ids(store: Store, prefix: str = "", limit: int = 50) -> list[str]:
    """Invoice ids starting with `prefix` (case ignored), for a picker."""
    frame = run(store, q.INVOICE_IDS, {"prefix": prefix, "limit": limit})
    return frame["invoice_id"].to_list()


def order_ids(store: Store, prefix: str = "", limit: int = 50) -> list[str]:
    """Purchase-order ids starting with `prefix` (case ignored), for a picker."""
    frame = run(store, q.ORDER_IDS, {"prefix": prefix, "limit": limit})
    return frame["po_id"].to_list()


def invoice_lines(store: Store, invoice_id: str) -> list[int]:
    """The line numbers of an invoice (empty when there is no such invoice)."""
    return run(store, q.INVOICE_LINES, {"invoice_id": invoice_id})["invoice_line"].to_list()


def order_lines(store: Store, po_id: str) -> list[int]:
    """The line numbers of a purchase order (empty when there is no such order)."""
    return run(store, q.ORDER_LINE_NUMBERS, {"po_id": po_id})["po_line"].to_list()
