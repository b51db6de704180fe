"""What each curated view reads, and by which date: declared here, beside the views, so that
a view cannot be added without saying it.

Three readers rely on these declarations: a live KPI over a range of a view's period column
(kpi.semantic.compiler, RANGE_READS: which invoice lines that range's rows come from), the
rollups' refresh (kpi.semantic.rollups, INCREMENTAL: which months of a view a change to
some months of a table changes; SUMMARIES: what a view reads of a table when it is less
than its rows; COMPLETE: which rollup tables hold every row of their view) and the rollups'
plan (GRAIN_COLUMNS: columns counted within the reported period).
"""

from __future__ import annotations

from dataclasses import dataclass

# The views whose rows in a range of their period column come only from some of the invoice
# lines, so that a read of one range may compute spend_base from those lines alone: the
# view's period column, and which lines. "": the lines of the periods (of the grain read:
# months, fiscal quarters or fiscal years) holding the range (supplier ranks are within the
# period; budget_vs_actual's invoiced spend is by the month invoiced, its committed and
# accrued spend by the orders due or received in the range); `prior_year`: the range and
# the same range a year before (spend_yoy's prior-year rows are last year's lines moved on a
# year; it reads no rank); `po_history`: the lines of the range and every earlier line of
# the orders invoiced in it (invoice_match's quantity invoiced to date; it reads no rank);
# `paid`: the lines paid in the range (payments and working_capital_days by paid date read
# no rank). Any other view or period column (payments by as_of_date) reads every line.
RANGE_READS: dict[str, tuple[str, str]] = {
    "spend": ("invoice_date", ""),
    "savings_lines": ("invoice_date", ""),
    "spend_yoy": ("period_date", "prior_year"),
    "invoice_match": ("invoice_date", "po_history"),
    "budget_vs_actual": ("month_start", ""),
    "payments": ("paid_date", "paid"),
    "working_capital_days": ("on_date", "paid"),
}


@dataclass(frozen=True)
class Dated:
    """A big table a view reads, by one of its date columns: a change to the table's rows of
    some months of `column` changes the view's rows of the months `reach` says.

    `reach`: "month": those months only (the view's row of a month comes from the table's
    rows of that month); "year_on": those months and the same months a year on (spend_yoy's
    prior-year rows); "orders": those months and the months of every later line of the
    orders invoiced in them (invoice_match's quantity invoiced to date); "due": those months
    and the months the orders invoiced in them are due or were last received in
    (budget_vs_actual's committed and accrued spend, net of what was invoiced on the order);
    "from": that month and every later one. `extent`: the view also reads the first and last
    month of `column` (spend_yoy's bounds, savings_lines' expected savings within the months
    invoiced): when they move, the months between the old and the new ones change too."""

    column: str
    reach: str = "month"
    extent: bool = False


# Per view and period column, the big tables whose changes recompute only some months of
# the view's rollup rows (see Dated). Any other change to what a view reads (a purchase
# order: its invoices may be dated before it; a small table; the settings) rebuilds the
# view's table whole.
INCREMENTAL: dict[tuple[str, str], dict[str, Dated]] = {
    ("spend", "invoice_date"): {"invoices": Dated("invoice_date")},
    ("savings_lines", "invoice_date"): {"invoices": Dated("invoice_date", extent=True)},
    ("spend_yoy", "period_date"): {"invoices": Dated("invoice_date", "year_on", extent=True)},
    ("invoice_match", "invoice_date"): {
        "invoices": Dated("invoice_date", "orders"),
        "goods_receipts": Dated("receipt_date", "from"),
    },
    ("budget_vs_actual", "month_start"): {"invoices": Dated("invoice_date", "due")},
    ("payments", "paid_date"): {"invoices": Dated("paid_date")},
    ("working_capital_days", "on_date"): {"invoices": Dated("paid_date")},
}

# Rollup tables whose rows are sums over invoice lines, each line's row of the view its own
# (its supplier, terms, rate and order, but no rank or running total; or its order's, see
# BY_ORDER): a load of invoices changes them by the sums of the lines it wrote less the
# sums of the lines they replaced, computed from the invoices it wrote alone, in the store
# before and after the load (kpi.semantic.rollups applies that difference instead of
# recomputing the months). Per view and period column, what else of the invoices the rows
# read, the difference applying only while it does not move: "last_day", the last data
# day (payments' as-of day, its overdue days); "invoice_days", the first and last invoice
# dates (spend_yoy's bounds: no current row before a year of data, no prior row moved past
# the last day); "invoice_months", the first and last months invoiced (savings_lines: each
# initiative's expected saving of a month is a row only in the months the invoices span;
# its plan rows are then the same before and after the load, and cancel out in the
# difference); "" nothing. working_capital_days is a union of inventory_position's stock
# rows (which read no invoice: a load leaves them as they are, so its difference is the
# paid lines' half alone, and the stock rows are left out of it: invoice_bodies) and one
# row per paid invoice line (its paid date, category, amount and days to pay): nothing
# else of the invoices. savings_lines' line rows are each the line's own: its spend row,
# the one initiative it is attributed to (among those of its supplier, item or category
# and date: no other line is read) and that initiative's rate on its day.
DELTA: dict[tuple[str, str], str] = {
    ("spend", "invoice_date"): "",
    ("payments", "paid_date"): "last_day",
    ("payments", "as_of_date"): "last_day",
    ("invoice_match", "invoice_date"): "",
    ("spend_yoy", "period_date"): "invoice_days",
    ("working_capital_days", "on_date"): "",
    ("savings_lines", "invoice_date"): "invoice_months",
}

# DELTA tables whose view row of a line also reads the other lines of its order (and the
# order's lines and receipts): invoice_match's quantity invoiced to date. Their difference
# is over every line of the orders the load's lines name, before and after (a line without
# an order reads itself only), not over those lines alone; each of their reads of the
# orders' lines and receipts joins them to the lines by order, so those orders' rows of
# purchase_orders and goods_receipts are all they read of them.
BY_ORDER = frozenset({("invoice_match", "invoice_date")})

# Views whose rows of a category (the line's, else its item's: the rollups' `category`)
# come from that category's invoice lines only (supplier ranks and shares are within the
# category and period): a load of invoices recomputes, in the months it changed, the rows
# of the categories its lines had before and have after it only.
BY_CATEGORY = frozenset({("spend", "invoice_date")})

# Views whose rows are groups (the month, the cost centre and the category named; each
# group's sums converted and rounded once per currency and measure, so a load's difference
# of lines would not give the same cents) and whose group reads that group's rows only, plus,
# for its orders' lines, the invoices of their orders: budget_vs_actual's budget and
# invoiced spend of the group, and the committed and accrued spend of the order lines due
# or last received in it (what was invoiced on each order fills its lines in line order).
# A load of invoices changes the groups of its lines before and after it, and those of
# every line of the orders they name (due month, month of the last receipt). The rollup
# keeps each group's sums per currency and measure before they are converted (exact: a
# load's difference of them is), gives them the load's difference and makes again, from
# their sums, the rows of the groups whose sums changed (kpi.semantic.rollups,
# _apply_groups; kpi.store.views.group_sums_body, rows_from_sums).
BY_GROUP: dict[tuple[str, str], tuple[str, ...]] = {
    ("budget_vs_actual", "month_start"): ("cost_centre", "category"),
}

# What a view reads of a table, when it is less than its rows: po_lines reads the invoices
# for the last data day only (max invoice and paid dates), so a load of invoices that does
# not move it leaves the orders' table as it is.
SUMMARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("po_lines", "invoices"): ("invoice_date", "paid_date"),
}

# Rollup tables that hold every row of their view (the period column is required on every
# row: an invoice line always has its invoice date), so their dimension values are the view's.
COMPLETE = frozenset({("spend", "invoice_date")})

# Columns whose value depends on the reported period's grain (supplier ranks and shares,
# each location's number of snapshots): measures that read them are stored once per grain.
GRAIN_COLUMNS: dict[str, frozenset[str]] = {
    "spend": frozenset({"supplier_rank_in_category", "supplier_share_in_category"}),
    "inventory_position": frozenset({"location_snapshots"}),
}


@dataclass(frozen=True)
class Ranked:
    """How a view ranks a column's values within a group and period, from a sum: spend's
    suppliers (`by`) within their category (`within`, NULL a category of its own) and
    reported period, by their sum of `amount` (converted and rounded line by line): `rank`
    is the row number by that sum, largest first, ties by `by` (kpi.store.view_sql_spend,
    `ranks`); `share` the sum as a DOUBLE over the group's sum (NULL when it is zero). A
    line whose `by` is NULL is ranked (its sum counts in the group's) but reads no rank."""

    by: str
    within: str
    amount: str
    rank: str
    share: str


# Views whose GRAIN_COLUMNS are such ranks: their tables at a grain are, for some periods
# and categories, computed from the view's any-grain rollup (which then holds `by` as a
# dimension: per month, category, supplier and other dimensions, the sums of amount) rather
# than from the lines (kpi.semantic.rollup_ranks).
RANKED_BY: dict[tuple[str, str], Ranked] = {
    ("spend", "invoice_date"): Ranked(
        "supplier_id",
        "category",
        "amount",
        "supplier_rank_in_category",
        "supplier_share_in_category",
    ),
}
