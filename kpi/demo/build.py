"""Seeded demo data: a realistic store that fills every canonical table, with stories to find.

`build_demo` invents the procurement of a mid-sized European manufacturer from January 2023
to October 2026 (data as of 2026-10-31, reporting currency EUR, fiscal year = calendar
year): suppliers, items, purchase orders and their goods receipts, invoices and payments,
budgets, stock snapshots, contracts, savings initiatives, procurement's price outlook,
exchange rates and the cost centres with their names and owners. The same seed and scale
give the same store. Every table is drawn with numpy in whole arrays (no loop over lines)
and reaches DuckDB as an Arrow frame, all in one transaction.

Four stories are planted so the app has something true to show (`STORIES` names them):
1. Packaging: the 2025 tender cut unit prices ~8 %, yet spend rose: volume grew ~25 %.
2. Large preferred suppliers are paid in ~20 days although their terms are 60 days.
3. Critical MRO spares have not moved for over 180 days, yet sit at or below safety stock.
4. CC-3030 Marketing & Events overruns its FY2026 budget on invoices with no PO.
Besides, kpi.demo.stories plants the cases finance's rules are about (`CASES` names them):
credit notes, missing due dates, after-the-fact, unknown and unapproved POs, lump-sum
services, stock new at a location, and supplier terms that changed (when the schema has
the optional supplier_terms table); overdue open PO lines, the USD cost centre and the
dollar's FY2026 move are drawn with the flow, the budgets and the rates.

The demo records itself as who loaded each table (`loads.loaded_by` = "demo", identity
mode "demo"), gives every row its lineage (that load, its file name, its row number),
writes the savings initiatives pending with 'created' rows in their audit log, and then
records finance's verdicts the way a finance person does: through the ledger's verdict
(kpi.workflows.initiatives.record_verdict) as the demo's finance member, who neither
created nor changed any of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from sqlglot import exp

from kpi.core.people import Person
from kpi.demo.initiatives import (
    contracts_table,
    draw_contracts,
    plan_initiatives,
    refused_overlap,
)
from kpi.demo.ledgers import budgets_table, inventory_table, savings_table, usage_per_day
from kpi.demo.masters import (
    cost_centres_table,
    draw_master,
    fx_rates,
    items_table,
    price_outlook,
    suppliers_table,
)
from kpi.demo.reference import LINES_AT_SCALE_1
from kpi.demo.stories import plant_cases, stock_new_at_location, terms_history
from kpi.demo.transactions import Flow, draw_flow, draw_lines
from kpi.ingest.loader import DEMO_LOADER
from kpi.ingest.readers import HEADER_ROWS, ROW
from kpi.semantic import rollups
from kpi.store.audit_log import audit_text, last_initiative_change, write_initiative_changes
from kpi.store.database import Store
from kpi.store.identifiers import column, ident, render, table
from kpi.store.schema import LINEAGE_NAMES, TABLES, VERDICT_COLUMNS, Table
from kpi.workflows.initiative_model import Initiative, InitiativeError, numbers_hash
from kpi.workflows.initiatives import check_no_overlap, get_row, record_verdict

# The demo's finance member (as in the shipped config/people.yaml): gives finance's verdicts.
DEMO_REVIEWER = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")

_LOADS = (
    "INSERT INTO loads (load_id, table_name, source, content_hash, mapping, rows_in, "
    "rows_loaded, rows_rejected, amount_loaded, started, finished, status, message, "
    "loaded_by, loaded_by_name, file_name, identity_mode) "
    "VALUES (?, ?, 'demo', ?, NULL, ?, ?, 0, ?, ?, ?, 'loaded', ?, ?, ?, ?, ?)"
)
_ALL_INITIATIVES = "SELECT initiative_id FROM savings_initiatives ORDER BY initiative_id"
_FIRST_TENDER = (
    "SELECT min(initiative_id) FROM savings_initiatives WHERE title LIKE 'Packaging tender%'"
)
_REFUSED = "INSERT INTO rejects VALUES (?, ?, ?, ?)"
_COUNT_REFUSED = (
    "UPDATE loads SET rows_in = rows_in + 1, rows_rejected = rows_rejected + 1, message = ? "
    "WHERE load_id = ?"
)

# Decimal columns travel as scaled integers and become DECIMAL in SQL, exactly.
_SCALE = {"money": 2, "price": 4, "qty": 3, "pct": 4, "rate": 8}


# ---- writing the store --------------------------------------------------------------------
def _select_list(spec: Table, frame: pl.DataFrame) -> list[exp.Expression]:
    """Columns in schema order, cast to their types; decimals arrive as scaled integers."""
    out: list[exp.Expression] = []
    for col in spec.columns:
        sql_type = exp.DataType.build(col.sql_type, dialect="duckdb")
        if col.name not in frame.columns:
            value: exp.Expression = exp.cast(exp.Null(), sql_type)
        elif col.kind in _SCALE:
            step = exp.Literal.number("0." + "0" * (_SCALE[col.kind] - 1) + "1")
            whole = exp.cast(column(col.name), exp.DataType.build("DECIMAL(18,0)"))
            value = exp.cast(exp.Mul(this=whole, expression=step), sql_type)
        else:
            value = exp.cast(column(col.name), sql_type)
        out.append(exp.alias_(value, ident(col.name)))
    return out


def _lineage() -> list[exp.Expression]:
    """The demo's rows say where they came from: the demo's load of their table, the
    load's file name as `loads` records it, and their row in the generated table numbered
    as a spreadsheet shows it (header row 1, so the first row is 2), as loaded files are."""
    row = exp.Add(this=column(ROW), expression=exp.Literal.number(HEADER_ROWS))
    values: list[exp.Expression] = [
        exp.Placeholder(this="load_id"),
        exp.Placeholder(this="source_file"),
        exp.cast(exp.Null(), "VARCHAR"),
        row,
    ]
    return [exp.alias_(v, ident(n)) for v, n in zip(values, LINEAGE_NAMES, strict=True)]


def _write(
    path: Path,
    tables: dict[str, pl.DataFrame],
    seed: int,
    scale: float,
    say: Callable[[str], None],
) -> dict[str, int]:
    """Insert the tables in order, letting go of each frame once it is in the store (at
    scale 50 the frames hold gigabytes, and DuckDB needs room to write them)."""
    counts: dict[str, int] = {}
    savings = tables["savings_initiatives"]
    verdicts = savings.select("initiative_id", *VERDICT_COLUMNS)
    tables["savings_initiatives"] = savings.with_columns(
        finance_status=pl.lit("pending"), finance_note=pl.lit(None, pl.String)
    )
    del savings
    store = Store(path)
    with store.write(fresh=True) as con:
        for load_id, name in enumerate(list(tables), start=1):
            started = datetime.now()
            spec = TABLES[name]
            frame = tables.pop(name).with_row_index(ROW, offset=1)
            file_name = f"demo {name} (seed {seed}, scale {scale:g})"
            con.register("demo_frame", frame)
            rows_of_frame = exp.select(*_select_list(spec, frame), *_lineage()).from_(
                table("demo_frame")
            )
            into = [*spec.column_names, *LINEAGE_NAMES]
            insert = render(exp.insert(rows_of_frame, table(name), columns=into))
            con.execute(insert, {"load_id": load_id, "source_file": file_name})
            con.unregister("demo_frame")
            rows = frame.height
            del frame
            amount = None
            if "amount" in spec.column_names:
                total = exp.select(exp.Sum(this=column("amount"))).from_(table(name))
                amount = con.execute(render(total)).fetchone()[0]
            con.execute(
                _LOADS,
                [
                    load_id,
                    name,
                    f"demo-seed{seed}-scale{scale:g}-{name}",
                    rows,
                    rows,
                    amount,
                    started,
                    datetime.now(),
                    f"demo data, seed {seed}, scale {scale:g}",
                    DEMO_LOADER.loaded_by,
                    DEMO_LOADER.name,
                    file_name,
                    DEMO_LOADER.mode,
                ],
            )
            counts[name] = rows
        say("Demo: finance's verdicts on the savings initiatives")
        _record_initiatives(con, verdicts, f"demo data, seed {seed}, scale {scale:g}")
        load_id = list(counts).index("savings_initiatives") + 1
        _record_refusal(con, load_id, store.settings.savings_window_months, say)
    return counts


def _record_refusal(
    con: duckdb.DuckDBPyConnection, load_id: int, window: int, say: Callable[[str], None]
) -> None:
    """A second initiative on a tender item, entered while the tender's runs: the ledger's
    overlap rule refuses it, and the demo keeps the refusal as a rejected row of its load."""
    (tender_id,) = con.execute(_FIRST_TENDER).fetchall()[0]
    entry = refused_overlap(get_row(con, tender_id))
    try:
        check_no_overlap(con, Initiative(**entry), window)
    except InitiativeError as exc:
        raw = json.dumps(entry, default=str)
        con.execute(_REFUSED, [load_id, 1, raw, str(exc)])
        con.execute(_COUNT_REFUSED, ["1 row(s) rejected: an overlapping initiative", load_id])
        say(f"Demo: an overlapping initiative refused: {exc}")


def _record_initiatives(con: duckdb.DuckDBPyConnection, verdicts: pl.DataFrame, why: str) -> None:
    """The initiatives' audit log: created by the demo, then judged by its finance member."""
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = [r[0] for r in con.execute(_ALL_INITIATIVES).fetchall()]
    stored = {i: get_row(con, i) for i in ids}
    last = last_initiative_change(con)
    created = [
        (i, field, audit_text(value, field))
        for i in ids
        for field, value in stored[i].items()
        if field != "initiative_id" and field not in VERDICT_COLUMNS and value is not None
    ]
    write_initiative_changes(
        con,
        [
            (last + n, i, now, DEMO_LOADER.loaded_by, "created", field, None, text, why, None)
            for n, (i, field, text) in enumerate(created, start=1)
        ],
    )
    for ini, status, note in verdicts.iter_rows():
        if status in ("accepted", "rejected"):
            seen = numbers_hash(stored[ini])
            record_verdict(con, DEMO_REVIEWER, ini, status, note, seen, now)


def build_demo(
    path: Path,
    seed: int = 42,
    scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Build the demo store at `path` from scratch (replacing any store there).

    `scale` 1 gives ~200,000 invoice lines, 10 about 2 million; suppliers, items and cost
    centres stay the same. Returns the number of rows written per table.
    """
    if not scale > 0:
        raise ValueError(f"--scale must be a positive number such as 0.05, 1 or 10, not {scale}")
    say = progress or (lambda _message: None)
    tables = _tables(np.random.default_rng(seed), scale, say)  # its working arrays freed
    say(f"Demo 6/6: writing {path}")
    with rollups.paused():
        counts = _write(Path(path), tables, seed, scale, say)
    say("Demo: pre-computing every KPI's measures by month (the rollups)")
    report = rollups.refresh(Store(path))
    if report is not None:
        say(
            f"Demo: rollups ready in {report.seconds:.1f} s, {report.rows:,} rows, "
            f"{report.size_bytes / 1e6:.1f} MB"
        )
    return counts


def _tables(
    rng: np.random.Generator, scale: float, say: Callable[[str], None]
) -> dict[str, pl.DataFrame]:
    """Every table of the demo, in the order they are written."""
    say("Demo 1/6: exchange rates, suppliers, items")
    fx = fx_rates(rng)
    m = draw_master(rng)
    say("Demo 2/6: savings initiatives and contracts")
    plan = plan_initiatives(rng, m)
    contract_rows = draw_contracts(m, plan)
    say(f"Demo 3/6: about {round(LINES_AT_SCALE_1 * scale):,} invoice lines")
    ln = draw_lines(rng, scale, m, plan)
    say("Demo 4/6: purchase orders, goods receipts, invoices and payments")
    flow = draw_flow(rng, m, ln, contract_rows)
    # the planted cases draw from their own stream, so the drawn data stays as it was
    cases = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    flow = plant_cases(cases, m, flow, {m.item_id[i] for i in m.pair_item[plan.pair]})
    say("Demo 5/6: budgets, stock snapshots, savings, price outlook")
    budgets = budgets_table(rng, m, ln, fx)
    inventory, safety_milli = inventory_table(rng, m, ln, plan, fx)
    inventory = stock_new_at_location(cases, m, inventory)
    savings = savings_table(m, ln, plan, usage_per_day(m, ln))
    tables = {"suppliers": suppliers_table(m)}
    if "supplier_terms" in TABLES:  # the optional terms history, where the schema has it
        terms, invoices = terms_history(cases, m, flow.invoices)
        tables["supplier_terms"] = terms
        flow = Flow(flow.purchase_orders, flow.goods_receipts, invoices)
    tables |= {
        "items": items_table(m, safety_milli),
        "contracts": contracts_table(m, contract_rows),
        "purchase_orders": flow.purchase_orders,
        "goods_receipts": flow.goods_receipts,
        "invoices": flow.invoices,
        "budgets": budgets,
        "inventory": inventory.sort("snapshot_date", "item_id", "location"),
        "savings_initiatives": savings,
        "price_outlook": price_outlook(rng, m),
        "fx_rates": fx.table,
        # last, so the other tables keep their load numbers
        "cost_centres": cost_centres_table(),
    }
    return tables
