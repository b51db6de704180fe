"""Savings measured on the invoices, not taken from the claims: per initiative and month, and
procurement's and finance's lenses side by side.

Every figure comes from the `savings_lines` and `spend` views (kpi/store/views.py): the invoice
lines attributed to an initiative (each line to one initiative at most: the most specific
of its supplier's, inside the initiative's window, implemented or realised) and what was
really paid on them, plus each initiative's expected saving per month. Amounts are in the
display currency (the reporting currency unless `currency` is given), converted at each
line's date; prices stay in the initiative's own currency (`price_currency`) so they
compare with its baseline, quote and negotiated price. The SQL is in
kpi/store/queries/savings_ledger.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from kpi.core import periods
from kpi.core.scope import Scope
from kpi.core.settings import FiscalCalendar
from kpi.store.database import Store
from kpi.store.queries import savings_ledger as q
from kpi.store.query import run

# filters that pick initiatives, and the one that picks invoice lines
INITIATIVE_FILTERS = (
    "initiative_id",
    "category",
    "supplier",
    "supplier_id",
    "owner",
    "stage",
    "finance_status",
)
LINE_FILTERS = ("cost_centre",)
MONTHLY_FILTERS = INITIATIVE_FILTERS + LINE_FILTERS
LENS_FILTERS = ("category", "cost_centre", "supplier", "supplier_id")


def realised_by_month(store: Store, scope: Scope) -> pl.DataFrame:
    """Price-reduction initiatives per month: what the invoices show against what was expected.

    The scope's period runs from its first to its last day; its filters (MONTHLY_FILTERS):
    initiative_id, category (the initiative's, or its item's), supplier (name),
    supplier_id, owner, stage, finance_status pick initiatives; cost_centre picks the
    invoice lines (it narrows what was bought, not what was expected).

    One row per initiative and month (`month`, YYYY-MM) with invoiced lines, an expected
    share or off-contract buying. Columns: initiative_id, title, kind, category, supplier,
    finance_status, finance_note, month, quantity (invoiced), avg_unit_price_paid,
    baseline_unit_price, negotiated_unit_price, price_currency (those three prices are in
    it), realised_saving, expected_saving, leakage, off_contract_quantity,
    off_contract_amount.

    - realised_saving = Σ (baseline − unit price paid) × quantity over the month's lines;
      a line paid above the baseline counts against it.
    - expected_saving = expected_volume × (baseline − negotiated), rounded to the cent and
      spread evenly over the calendar months from start_date to end_date (a month the
      initiative only partly covers counts whole; the cents that do not divide go one each
      to the first months, so the months add up to the total exactly in the initiative's
      currency), converted at the rate of the month's first day. NULL when the initiative
      lacks its volume, prices or dates. expected_volume is the volume over the whole
      initiative, not per year.
    - leakage = Σ max(paid − negotiated, 0) × quantity: paying above the negotiated price.
    - off_contract_quantity / _amount: the same item (or category, for an initiative
      without an item) bought from other suppliers during the initiative: volume that
      bypassed the negotiated price.
    """
    return _by_month(store, "price_reduction", scope).rename(
        {
            "reference_unit_price": "baseline_unit_price",
            "saving": "realised_saving",
            "expected": "expected_saving",
        }
    )


def cost_avoidance_by_month(store: Store, scope: Scope) -> pl.DataFrame:
    """Cost-avoidance initiatives per month: price increases the supplier asked for and did
    not get. Never a P&L saving: the expense does not go down, it only does not go up.

    Arguments and rows as in `realised_by_month`. Columns: initiative_id, title, kind,
    category, supplier, finance_status, finance_note, month, quantity,
    avg_unit_price_paid, quoted_unit_price, negotiated_unit_price, price_currency,
    avoided_cost (Σ (quoted − paid) × quantity), expected_avoidance (expected_volume ×
    (quoted − negotiated), spread over the months as the expected saving is), leakage,
    off_contract_quantity, off_contract_amount.
    """
    return _by_month(store, "cost_avoidance", scope).rename(
        {
            "reference_unit_price": "quoted_unit_price",
            "saving": "avoided_cost",
            "expected": "expected_avoidance",
        }
    )


def _by_month(store: Store, kind: str, scope: Scope) -> pl.DataFrame:
    params = scope.params(MONTHLY_FILTERS) | scope.period_params()
    params |= {"kind": kind, "window": store.settings.savings_window_months}
    return run(store, q.INITIATIVE_MONTHS, params, scope.currency)


PIPELINE_FILTERS = ("category", "supplier_id")

SAVINGS_RULES = """\
**How a saving counts** (the same rules in every savings figure):

- **One initiative per invoice line.** A line counts for the most specific initiative of its
  supplier that covers it: an item's initiative before a category-wide one, then the one
  that started last, then the smallest id. Two initiatives on the same supplier and item
  (or category) in the same days are refused when entered.
- **Inside the window.** From the start date to the end date; without an end date, for
  {window} months from the start (`savings_window_months` in settings); without a start
  date, nothing counts and the initiative is listed as incomplete.
- **Once implemented.** Only the stages *implemented* and *realised* claim realised savings;
  *identified*, *negotiating* and *contracted* are the pipeline: their expected saving is
  shown apart and never added to what was realised.
- **Category-wide by percent.** An initiative without an item states its price change p in
  percent; each line saves what it would have cost before the change minus what it cost,
  amount × −p / (100 + p) (−6 %: amount × 6 / 94). One price for every item is refused.
- **Other currencies converted.** A line in another currency than the initiative's is
  compared at the invoice date's exchange rate, not dropped.
"""


def savings_rules(window_months: int) -> str:
    """SAVINGS_RULES with the store's savings window."""
    return SAVINGS_RULES.format(window=window_months)


ACCEPTANCE_FILTERS = ("category", "cost_centre", "supplier", "supplier_id")


def claims_by_status(store: Store, scope: Scope) -> pl.DataFrame:
    """The claimed amount (price savings and cost avoidance, by the savings rules) in the
    scope's period by finance's verdict: one row each for accepted, rejected and pending.
    The acceptance rate is accepted / (accepted + rejected); pending is shown beside it."""
    params = scope.params(ACCEPTANCE_FILTERS) | scope.period_params()
    return run(store, q.CLAIMS_BY_STATUS, params, scope.currency)


def pipeline(store: Store, scope: Scope) -> pl.DataFrame:
    """The pipeline: the expected saving, in the scope's period, of the priced initiatives
    not yet implemented (identified, negotiating, contracted), by stage and kind. They
    claim no realised saving; this is what they promise. Columns: stage, kind,
    initiatives, expected (display currency; the months of the period within each
    initiative's window, expected_volume x (reference - negotiated) spread evenly)."""
    params = scope.params(PIPELINE_FILTERS) | scope.period_params()
    return run(store, q.PIPELINE, params, scope.currency)


def incomplete(store: Store) -> pl.DataFrame:
    """Priced initiatives that claim nothing whatever their stage, and why: no start date,
    or category-wide without a percent price change. Columns: initiative_id, title, kind,
    stage, problem."""
    return run(store, q.INCOMPLETE)


# ---------------------------------------------------------------------------------------
# Two lenses
# ---------------------------------------------------------------------------------------

LENSES_EXPLAINED = """\
**Two lenses on the same money.** Procurement counts a saving when it pays less than the
price it started from; finance counts one when the expense line goes down. Both are right,
and they differ. Every figure here comes from the invoices of the period.

- **Procurement-reported**: the realised price savings of price-reduction initiatives,
  Σ (baseline − price paid) × quantity on the invoice lines they cover.
- **Finance-recognised**: the same, for the initiatives finance accepted.
- **Not accepted**: reported − recognised, the savings finance has not accepted (pending or
  rejected).
- **Cost avoidance**: Σ (quoted − price paid) × quantity, the increases suppliers asked for
  and did not get. **Shown apart**: a price never paid never lowers the expense.
- **Spend a year earlier, spend now**: invoiced spend in the same period a year before, and
  in this period.
- **Expense change**: spend now − spend a year earlier (negative: the expense went down).
- **Gap**: reported + expense change, i.e. reported − expense reduction: the part of
  procurement's savings that the expense line does not show.
- **Volume / mix**: the rest of the gap, gap − not accepted.

**How they reconcile** (exactly, to the cent, on every row and the total):

    procurement-reported = expense reduction + not accepted + volume / mix
    where expense reduction = spend a year earlier − spend now = −expense change

so **gap = not accepted + volume / mix**. *Not accepted* is the part of the gap that is a
disagreement about the saving itself (finance does not accept its baseline, say).
*Volume / mix* is everything else that moved the expense besides the savings finance
recognised: buying more or less, other items and suppliers, new needs, price changes
outside any initiative, and any difference between an initiative's baseline and what was
really paid a year earlier. A positive volume / mix means the expense fell by less than the
recognised savings (more was bought, say); a negative one that it fell by more.

Cost avoidance is not part of the gap: it explains why the expense did not rise further,
not why it fell. When the store holds no invoices from the whole period a year earlier,
the year-earlier spend, the expense change, the gap and volume / mix are left empty rather
than compared with nothing.
"""


def two_lenses(store: Store, scope: Scope, current_period: str) -> pl.DataFrame:
    """Procurement's and finance's savings per category for one period, plus a total row.

    `current_period` is a period label (2026-03, FY2026-Q1, FY2026); it is compared with
    the same period a year earlier (FY2025-Q1 for FY2026-Q1); the scope's period is not
    used. Its filters may be category, cost_centre, supplier (name) and supplier_id
    (LENS_FILTERS): they select invoice lines.

    Columns: category ('(no category)' for lines without one; 'Total' on the total row),
    is_total, procurement_reported, finance_recognised, not_accepted, cost_avoidance,
    spend_prior, spend_current, expense_change, gap, volume_mix. All Decimal; on every row
    gap = procurement_reported + expense_change = not_accepted + volume_mix exactly.
    LENSES_EXPLAINED says what each column means.
    """
    cal = store.settings.fiscal
    start, end = periods.period_range(current_period, cal)
    prior_start, prior_end = periods.period_range(year_earlier(current_period, cal), cal)
    params = scope.params(LENS_FILTERS)
    params |= {"start": start, "end": end, "prior_start": prior_start, "prior_end": prior_end}
    return run(store, q.TWO_LENSES, params, scope.currency)


def year_earlier(period: str, cal: FiscalCalendar) -> str:
    """The label of the same period a year earlier: FY2026-Q1 → FY2025-Q1, 2026-03 → 2025-03."""
    grain = periods.grain_of(period.strip())
    start, _ = periods.period_range(period, cal)
    return periods.label(date(start.year - 1, start.month, 1), grain, cal)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def period_bounds(start: date | str, end: date | str, cal: FiscalCalendar) -> tuple[date, date]:
    first = start if isinstance(start, date) else periods.period_range(start, cal)[0]
    last = end if isinstance(end, date) else periods.period_range(end, cal)[1]
    if last < first:
        raise periods.PeriodError(f"the period ends ({last}) before it starts ({first})")
    return first, last


INITIATIVE_KEYS = (
    "initiative_id",
    "title",
    "category",
    "supplier",
    "finance_status",
    "finance_note",
)


def per_initiative(monthly: pl.DataFrame, amounts: Sequence[str]) -> pl.DataFrame:
    """Monthly rows summed per initiative (with finance's verdict), largest first."""
    return (
        monthly.group_by(*INITIATIVE_KEYS)
        .agg(pl.col(c).sum() for c in amounts)
        .sort(amounts[0], descending=True)
    )
