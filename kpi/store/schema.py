"""The canonical tables, columns, types, keys and their DDL: the contract users map onto.

Users map their ERP exports onto these tables (docs/data-model.md); add columns freely,
rename none.

Every other module (pipelines, demo data, views, tests) reads the table shapes from here,
so a column is named and typed in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from kpi.store import catalog_cache
from kpi.store.queries.terms_proposals import DDL as TERMS_PROPOSALS_DDL
from kpi.store.queries.terms_scenarios import SCENARIOS_DDL

# Logical column kinds and their DuckDB types. Money is exact: DECIMAL, never float.
SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "date": "DATE",
    "money": "DECIMAL(18,2)",
    "price": "DECIMAL(18,4)",
    "qty": "DECIMAL(18,3)",
    "pct": "DECIMAL(9,4)",
    "rate": "DECIMAL(18,8)",
    "int": "INTEGER",
    "bool": "BOOLEAN",
    "currency": "VARCHAR",
    "month": "VARCHAR",  # YYYY-MM
    "quarter": "VARCHAR",  # FY2027-Q1
}

# Decimal places allowed in a source value, per kind; more is refused rather than rounded,
# so that what is loaded reconciles with the file to the cent.
DECIMAL_PLACES: dict[str, int] = {"money": 2, "price": 4, "qty": 3, "pct": 4, "rate": 8}

# The longest text a row may hold in one column; a longer value rejects its row (it is a
# pasted document or a broken export, and cutting it would lose data silently).
TEXT_MAX_CHARS = 1000


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False  # a row without it is rejected
    nonneg: bool = False  # a negative value is rejected
    choices: tuple[str, ...] = ()  # allowed values (lower-case) for a text column

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str = ""
    line_column: str | None = None  # numbered in file order when a mapping leaves it out

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required_columns(self) -> list[str]:
        """Columns a source file (or its mapping) must provide."""
        return [c.name for c in self.columns if c.required and c.name != self.line_column]


def _c(name: str, kind: str = "text", **kw: object) -> Column:
    return Column(name, kind, **kw)  # type: ignore[arg-type]


SIZES = ("sme", "large")
KINDS = ("price_reduction", "cost_avoidance", "demand_reduction", "value_add")
FINANCE_STATUSES = ("pending", "accepted", "rejected")
STAGES = ("identified", "negotiating", "contracted", "implemented", "realised")

# savings_initiatives: the columns that hold finance's verdict (only finance's review on the
# Savings page sets them, never a file, a mapping or procurement's edit), and those whose
# change alters the money an initiative claims (a change after a verdict sends it back to
# pending, and its author may not judge it).
VERDICT_COLUMNS: tuple[str, ...] = ("finance_status", "finance_note")
MONEY_COLUMNS: tuple[str, ...] = (
    "kind",
    "category",
    "supplier_id",
    "item_id",
    "baseline_unit_price",
    "quoted_unit_price",
    "negotiated_unit_price",
    "expected_volume",
    "currency",
    "start_date",
    "end_date",
    "price_change_pct",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "suppliers",
            (
                _c("supplier_id", required=True),
                _c("supplier_name"),
                _c("country"),
                _c("size", choices=SIZES),
                _c("preferred", "bool"),
                _c("payment_terms_days", "int", nonneg=True),
                _c("discount_pct", "pct", nonneg=True),
                _c("discount_days", "int", nonneg=True),
                _c("strategic", "bool"),
                _c("single_source", "bool"),
            ),
            ("supplier_id",),
            "Who we buy from, with their payment terms and early-payment discount.",
        ),
        # optional: a supplier's terms over time; an invoice is judged on the row in force
        # on its date (the latest valid_from on or before it), else on `suppliers` (today's)
        Table(
            "supplier_terms",
            (
                _c("supplier_id", required=True),
                _c("valid_from", "date", required=True),
                _c("payment_terms_days", "int", nonneg=True),
                _c("discount_pct", "pct", nonneg=True),
                _c("discount_days", "int", nonneg=True),
            ),
            ("supplier_id", "valid_from"),
            "Payment terms and early-payment discount of a supplier from a date on (optional "
            "history; without a row for an invoice's date, the suppliers table's terms apply).",
        ),
        Table(
            "items",
            (
                _c("item_id", required=True),
                _c("description"),
                _c("category"),
                _c("unit"),
                _c("safety_stock_qty", "qty", nonneg=True),
                _c("lead_time_days", "int", nonneg=True),
                _c("criticality"),
            ),
            ("item_id",),
            "What we buy, by category.",
        ),
        # optional reference: the names beside the codes that invoices, orders and budgets
        # carry; a code missing here is still loaded there (listed as a warning, not dropped)
        Table(
            "cost_centres",
            (
                _c("cost_centre", required=True),
                _c("cost_centre_name", required=True),
                _c("owner"),  # who answers for its budget: an e-mail (as initiatives') or a name
                _c("department"),
            ),
            ("cost_centre",),
            "Cost centres with their names, owners and departments (the names shown beside "
            "the codes).",
        ),
        Table(
            "contracts",
            (
                _c("contract_id", required=True),
                _c("supplier_id", required=True),
                _c("category"),
                _c("item_id"),
                _c("start_date", "date", required=True),
                _c("end_date", "date"),
                _c("unit_price", "price", nonneg=True),
                _c("currency", "currency", required=True),
            ),
            ("contract_id",),
            "Framework agreements and their contract prices.",
        ),
        Table(
            "purchase_orders",
            (
                _c("po_id", required=True),
                _c("po_line", "int", required=True),
                _c("po_date", "date", required=True),
                _c("approved_date", "date"),
                _c("supplier_id", required=True),
                _c("item_id"),
                _c("category"),
                _c("cost_centre"),
                _c("quantity", "qty", nonneg=True),
                _c("unit_price", "price", nonneg=True),
                _c("amount", "money", required=True),
                _c("currency", "currency", required=True),
                _c("contract_id"),
                _c("promised_date", "date"),
                _c("status"),
            ),
            ("po_id", "po_line"),
            "Purchase-order lines: what was committed, when it was approved and promised.",
            line_column="po_line",
        ),
        Table(
            "goods_receipts",
            (
                _c("po_id", required=True),
                _c("po_line", "int", required=True),
                _c("receipt_date", "date", required=True),
                _c("quantity", "qty", nonneg=True),
            ),
            ("po_id", "po_line", "receipt_date"),
            "Deliveries received against purchase-order lines.",
        ),
        Table(
            "invoices",
            (
                _c("invoice_id", required=True),
                _c("invoice_line", "int", required=True),
                _c("supplier_id", required=True),
                _c("po_id"),
                _c("invoice_date", "date", required=True),
                _c("due_date", "date"),
                _c("paid_date", "date"),
                _c("item_id"),
                _c("category"),
                _c("cost_centre"),
                _c("quantity", "qty"),
                _c("unit_price", "price"),
                _c("amount", "money", required=True),
                _c("currency", "currency", required=True),
                _c("discount_taken", "money"),
            ),
            ("invoice_id", "invoice_line"),
            "Supplier invoice lines with due and paid dates: the spend.",
            line_column="invoice_line",
        ),
        Table(
            "budgets",
            (
                _c("period", "month", required=True),
                _c("cost_centre", required=True),
                _c("category", required=True),
                _c("amount", "money", required=True),
                _c("currency", "currency", required=True),
            ),
            ("period", "cost_centre", "category"),
            "Monthly budgets per cost centre and category.",
        ),
        Table(
            "inventory",
            (
                _c("snapshot_date", "date", required=True),
                _c("item_id", required=True),
                _c("location", required=True),
                _c("on_hand_qty", "qty", nonneg=True),
                _c("unit_cost", "price", nonneg=True),
                _c("currency", "currency", required=True),
                _c("safety_stock_qty", "qty", nonneg=True),
                _c("max_stock_qty", "qty", nonneg=True),
                _c("last_issue_date", "date"),
                _c("issued_qty_90d", "qty", nonneg=True),
            ),
            ("snapshot_date", "item_id", "location"),
            "Monthly stock snapshots with the safety and maximum levels procurement set.",
        ),
        Table(
            "savings_initiatives",
            (
                _c("initiative_id", required=True),
                _c("title"),
                _c("kind", required=True, choices=KINDS),
                _c("category"),
                _c("supplier_id"),
                _c("item_id"),
                _c("baseline_unit_price", "price", nonneg=True),
                _c("quoted_unit_price", "price", nonneg=True),
                _c("negotiated_unit_price", "price", nonneg=True),
                _c("expected_volume", "qty", nonneg=True),
                _c("currency", "currency", required=True),
                _c("start_date", "date"),
                _c("end_date", "date"),
                _c("owner"),
                _c("stage", choices=STAGES),
                _c("finance_status", choices=FINANCE_STATUSES),
                _c("finance_note"),
                # a category-wide initiative's price change in percent (-5: 5 % lower)
                _c("price_change_pct", "pct"),
            ),
            ("initiative_id",),
            "Procurement's savings and cost-avoidance initiatives with finance's verdict.",
        ),
        Table(
            "price_outlook",
            (
                _c("quarter", "quarter", required=True),
                _c("category", required=True),
                _c("expected_change_pct", "pct"),
                _c("note"),
            ),
            ("quarter", "category"),
            "Procurement's expected price change per category and quarter.",
        ),
        Table(
            "fx_rates",
            (
                _c("date", "date", required=True),
                _c("currency", "currency", required=True),
                _c("rate", "rate", required=True, nonneg=True),
            ),
            ("date", "currency"),
            "Units of reporting currency per unit of currency, by date.",
        ),
    ]
}


BOOKKEEPING_DDL = """
CREATE TABLE IF NOT EXISTS loads (
    load_id INTEGER PRIMARY KEY,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    mapping VARCHAR,
    rows_in BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    amount_loaded DECIMAL(38,2),
    started TIMESTAMP NOT NULL,
    finished TIMESTAMP,
    status VARCHAR NOT NULL,
    message VARCHAR
);
CREATE TABLE IF NOT EXISTS rejects (
    load_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL,
    raw_row VARCHAR,
    reason VARCHAR NOT NULL
);
-- the audit log of savings initiatives (kpi/workflows/initiatives.py): one row per field changed,
-- written in the same transaction as the change; changed_at is UTC
CREATE TABLE IF NOT EXISTS initiative_changes (
    change_id BIGINT NOT NULL,
    initiative_id VARCHAR NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    changed_by VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    field VARCHAR,
    old_value VARCHAR,
    new_value VARCHAR,
    reason VARCHAR
);
-- the quarterly goal-setting meeting (kpi/workflows/goals.py); timestamps are UTC.
-- every change of procurement's price outlook: who, when, old and new
CREATE TABLE IF NOT EXISTS outlook_changes (
    change_id BIGINT NOT NULL,
    quarter VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    changed_by VARCHAR NOT NULL,
    changed_by_name VARCHAR,
    old_change_pct DECIMAL(9,4),
    new_change_pct DECIMAL(9,4),
    old_note VARCHAR,
    new_note VARCHAR
);
-- each department's proposed target per quarter and KPI; the latest one counts, all are kept
CREATE TABLE IF NOT EXISTS target_proposals (
    proposal_id BIGINT NOT NULL,
    quarter VARCHAR NOT NULL,
    kpi_id VARCHAR NOT NULL,
    department VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    rationale VARCHAR,
    proposed_by VARCHAR NOT NULL,
    proposer_name VARCHAR,
    proposed_at TIMESTAMP NOT NULL
);
-- targets agreed in the meeting, with both sign-offs (the target itself is in kpis.yaml)
CREATE TABLE IF NOT EXISTS goal_decisions (
    decision_id BIGINT NOT NULL,
    quarter VARCHAR NOT NULL,
    kpi_id VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    rationale VARCHAR NOT NULL,
    finance_by VARCHAR NOT NULL,
    finance_name VARCHAR,
    procurement_by VARCHAR NOT NULL,
    procurement_name VARCHAR,
    decided_at TIMESTAMP NOT NULL,
    kpis_version VARCHAR
);
-- discussions (kpi/workflows/threads.py): the company's record, never touched by loads,
-- `--force` or view rebuilds. A subject is "<kind>:<key>" (kpi:days_to_pay,
-- initiative:SI-2026-0001, ...); parent_id is the comment replied to (a top-level comment's
-- id, replies are one level deep); mentions are people's e-mails and department names
CREATE TABLE IF NOT EXISTS thread_comments (
    comment_id BIGINT NOT NULL,
    subject VARCHAR NOT NULL,
    parent_id BIGINT,
    author_email VARCHAR NOT NULL,
    author_name VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    mentions VARCHAR[] NOT NULL
);
-- a thread marked resolved, by whom, when and why; it holds while no comment came after
-- last_comment_id (a new comment reopens the thread)
CREATE TABLE IF NOT EXISTS thread_resolutions (
    resolution_id BIGINT NOT NULL,
    subject VARCHAR NOT NULL,
    last_comment_id BIGINT NOT NULL,
    resolved_by VARCHAR NOT NULL,
    resolved_by_name VARCHAR NOT NULL,
    resolved_at TIMESTAMP NOT NULL,
    reason VARCHAR
);
-- columns added after stores existed: a store gains them on its next write (every write
-- runs this DDL first); readers of an older store select them only when present.
-- who loaded (an e-mail, "os:<user>" for the command line's operator, "demo"), the
-- uploaded file's own name, and how the loader was identified (oidc, local, command line,
-- demo)
ALTER TABLE loads ADD COLUMN IF NOT EXISTS loaded_by VARCHAR;
ALTER TABLE loads ADD COLUMN IF NOT EXISTS loaded_by_name VARCHAR;
ALTER TABLE loads ADD COLUMN IF NOT EXISTS file_name VARCHAR;
ALTER TABLE loads ADD COLUMN IF NOT EXISTS identity_mode VARCHAR;
-- a verdict's hash of the money fields the reviewer was shown
ALTER TABLE initiative_changes ADD COLUMN IF NOT EXISTS numbers_seen VARCHAR;
-- why the outlook changed (a load says which file)
ALTER TABLE outlook_changes ADD COLUMN IF NOT EXISTS reason VARCHAR;
-- a category-wide savings initiative's price change in percent
ALTER TABLE savings_initiatives ADD COLUMN IF NOT EXISTS price_change_pct DECIMAL(9,4);
"""


# Procurement's marks on stock it keeps on purpose (kpi/workflows/stock_marks.py): one row
# per change (marked, changed, removed), never updated or deleted, so the history is the
# record and the item's latest row its state. A company record: loads, `--force` and view
# rebuilds never touch it. effective_from is the first snapshot date the change applies to
# (the store's latest snapshot on or before the day of the change); changed_at is UTC.
STOCK_MARKS_DDL = """
CREATE TABLE IF NOT EXISTS stock_mark_changes (
    change_id BIGINT NOT NULL,
    item_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    kind VARCHAR,
    review_date DATE,
    reason VARCHAR NOT NULL,
    effective_from DATE NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    changed_by VARCHAR NOT NULL,
    changed_by_name VARCHAR
);
"""

# Lineage: every row of every canonical table keeps where it came from. Not part of a
# table's `columns` (nobody maps a file column onto them): the loader fills them. `load_id`
# names the row in `loads`; `source_file` is the file's own name, `source_sheet` the Excel
# sheet (else null) and `source_row` the row number a spreadsheet program shows, header
# included (the numbering the rejects use). A reload that replaces a row replaces them.
LINEAGE_COLUMNS: tuple[Column, ...] = (
    Column("load_id", "int"),
    Column("source_file", "text"),
    Column("source_sheet", "text"),
    Column("source_row", "int"),
)
LINEAGE_NAMES: tuple[str, ...] = tuple(c.name for c in LINEAGE_COLUMNS)
# A row a person enters on a page (a savings initiative, a price outlook) came from no file:
# its source_file says so, load_id, source_sheet and source_row stay null. A loaded row
# edited on a page keeps its load's lineage; the audit log says who changed what.
ENTERED_IN_APP = "entered in the app"


def create_table_sql(table: Table) -> str:
    """DDL for one canonical table, built by sqlglot from this module's names and types.

    The names are quoted here rather than through kpi.store.identifiers, which reads its
    list of known names from this module.
    """
    columns = [
        exp.ColumnDef(
            this=exp.to_identifier(c.name, quoted=True),
            kind=exp.DataType.build(c.sql_type, dialect="duckdb"),
        )
        for c in (*table.columns, *LINEAGE_COLUMNS)
    ]
    create = exp.Create(
        kind="TABLE",
        exists=True,
        this=exp.Schema(this=exp.to_table(table.name, quoted=True), expressions=columns),
    )
    return create.sql("duckdb") + ";"


def lineage_ddl(table: Table) -> str:
    """Add the lineage columns to a store made before they existed (their rows keep null)."""
    return "".join(
        exp.Alter(
            this=exp.to_table(table.name, quoted=True),
            kind="TABLE",
            actions=[
                exp.ColumnDef(
                    this=exp.to_identifier(c.name, quoted=True),
                    kind=exp.DataType.build(c.sql_type, dialect="duckdb"),
                    exists=True,
                )
            ],
        ).sql("duckdb")
        + ";\n"
        for c in LINEAGE_COLUMNS
    )


def _canonical_ddl() -> str:
    return "\n".join(create_table_sql(t) + "\n" + lineage_ddl(t) for t in TABLES.values())


# The canonical tables with their lineage columns, made before anything refers to them. A
# function of this module's text and sqlglot's version only, built by sqlglot in half a
# second: kept on disk (kpi.store.catalog_cache, keyed by the code's hash), so that a fresh
# process (a small `kpi load`) does not pay for it at every import.
CANONICAL_DDL: str = catalog_cache.remembered(
    "canonical-ddl",
    [],
    _canonical_ddl,
    lambda v: isinstance(v, str) and v.startswith("CREATE TABLE IF NOT EXISTS"),
)

# What the company entered (not loaded from its ERP files), each table with the DDL that
# makes it: the store's set-up runs them all before every write (all_ddl); a backup keeps
# these tables, a restore puts them back (kpi/workflows/backup.py). Loaded data comes back by
# loading the exports again. A workflow recording people's decisions adds its tables here.
COMPANY_RECORDS: dict[str, str] = {
    "savings_initiatives": CANONICAL_DDL,  # entered on the Savings page (or loaded)
    "initiative_changes": BOOKKEEPING_DDL,
    "price_outlook": CANONICAL_DDL,  # procurement's outlook, set in the goals meeting
    "outlook_changes": BOOKKEEPING_DDL,
    "target_proposals": BOOKKEEPING_DDL,
    "goal_decisions": BOOKKEEPING_DDL,
    "terms_scenarios": SCENARIOS_DDL,  # saved payment-terms scenarios
    "thread_comments": BOOKKEEPING_DDL,
    "thread_resolutions": BOOKKEEPING_DDL,
    "stock_mark_changes": STOCK_MARKS_DDL,  # marks on stock kept on purpose, with history
    "terms_proposals": TERMS_PROPOSALS_DDL,  # with versions, answers, signatures, log
    "terms_proposal_versions": TERMS_PROPOSALS_DDL,
    "terms_proposal_lines": TERMS_PROPOSALS_DDL,
    "terms_proposal_signatures": TERMS_PROPOSALS_DDL,
    "terms_proposal_events": TERMS_PROPOSALS_DDL,
}


def all_ddl() -> str:
    """Every table a store has, each DDL block once: the canonical tables, the loads'
    bookkeeping (and the columns added since), then the company's records."""
    blocks = (CANONICAL_DDL, BOOKKEEPING_DDL, *COMPANY_RECORDS.values())
    return "".join(dict.fromkeys(blocks))
