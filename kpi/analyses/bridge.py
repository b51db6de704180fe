"""The savings bridge: how spend moved from a base period to a current period, and why.

Finance sees the expense line move; procurement claims price savings. The bridge shows
both on one line: base spend + price + exchange rates + volume + mix + spend without
quantity + new items + lost items = current spend, to the cent, for the whole scope or per
category, cost centre, supplier, supplier size or country — and the rows of any split add
up to the whole scope's bridge in every column, to the cent.

The rules (also in `FORMULAS` and `RULES`, which the app shows beside the bridge):

- Lines: invoice lines of the `spend` view whose invoice_date lies in the period, after the
  filters; amounts in the reporting currency (each invoice at its date's rate), and in
  their own document currency. A line that cannot be converted (no fx rate) is left out,
  as `total_spend` leaves it out.
- Periods: the two periods may not overlap, and must be the same kind (two months, two
  quarters, two fiscal years or two days) unless unequal lengths are allowed explicitly.
- Cell: category × cost centre × supplier × item — the finest grain any split cuts. Every
  effect is worked out per cell; a row is the sum of its cells. Item: category × item
  (lines without an item: one "(no item)" per category). Per cell S0, Q0 (spend, net
  quantity in the base period), S1, Q1 (current); D0, D1 the same spend in document
  currency, per currency.
- new: cells of items with no line in the base period (S1); lost: items with no line in the
  current period (−S0). Decided over the whole scope, so an item moving to another
  supplier or cost centre is neither new nor lost.
- fx (first, on the current document amounts): per cell and document currency with base
  spend, S1 − D1 × S0 / D0, i.e. the current document spend at the current rates less the
  same at the cell's own base rate. 0 for the reporting currency, and for a currency the
  cell did not buy in during the base period (there is no base rate to compare with).
- price (at the base rate): cells with a quantity in both periods,
  (S1 − fx) − S0 × Q1 / Q0 = (p1 at base rate − p0) × Q1.
- volume: cells with a quantity in either period, (Q1 − Q0) × P̄0 of its unit group
  (category × unit of measure of `items.unit`; an item without a unit is its own group),
  P̄0 = ΣS0 / ΣQ0 over the group's cells with a base quantity (0 when that is 0). Quantities
  of different units are never added.
- mix: the rest of those cells, S1 − S0 − fx − price − volume.
- unquantified: cells of continuing items without net quantity in either period
  (services, lines without an item): S1 − S0 − fx, compared as spend, no price/volume split.
- base + price + fx + volume + mix + unquantified + new + lost = current, exactly.

The aggregation runs in DuckDB (kpi/store/queries/bridge.py) on whole cents, so every
figure is an exact Decimal.
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from kpi.core import periods
from kpi.core.currencies import CURRENCIES
from kpi.core.scope import Scope
from kpi.semantic.engine import run_view_query
from kpi.store.database import Store
from kpi.store.queries import bridge as sql_savings

DIMENSIONS = sql_savings.BRIDGE_DIMENSIONS
FILTERS = sql_savings.BRIDGE_FILTERS
# base, price, fx, volume, mix, unquantified, new, lost, current
COLUMNS = sql_savings.MONEY_COLUMNS

LABELS = {
    "base": "base spend",
    "price": "price effect",
    "fx": "exchange-rate effect",
    "volume": "volume effect",
    "mix": "mix effect",
    "unquantified": "spend without quantity",
    "new": "new items",
    "lost": "lost items",
    "current": "current spend",
}

# The rules in plain words, one line each: the page shows them beside the bridge.
RULES = (
    "Periods: the two periods may not overlap and must be of the same kind (two months, two "
    "quarters, two fiscal years); compare periods of different length only on purpose.",
    "Volume never adds different units: quantities are compared within each category's "
    "unit of measure (kg with kg, litres with litres); every figure is worked out per "
    "category × cost centre × supplier × item, so the rows of any split add up to the total "
    "to the cent.",
    "Exchange rates: spend in another currency is first restated at its base-period rate; "
    "the difference is the exchange-rate effect, and the price effect is the change in the "
    "supplier's own-currency price.",
    "Spend without quantity (services, lines without an item) bought in both periods is "
    "compared as spend, in its own column: no price or volume split is claimed for it.",
    "New and lost items are items with no invoice line at all in one of the two periods.",
)

FORMULAS = """\
**Savings bridge** from a base period to a current period, over invoice lines (`spend`,
amounts in the reporting currency at each invoice's date, and in their own currency), in
the chosen scope. The two periods may not overlap and must be of the same kind (two
months, two quarters, two fiscal years, two days) unless different lengths are allowed.

| term | formula |
| --- | --- |
| cell | category × cost centre × supplier × item: every effect is worked out per cell and \
a row is the sum of its cells, so the rows of any split add up to the total |
| item | category × item; lines without an item: one "(no item)" per category |
| S0, Q0 · S1, Q1 | spend and net quantity of a cell in the base · current period; D0, D1 \
the same spend in its document currency |
| **base** | Σ S0 = total spend of the base period |
| **new** | Σ S1 of items with no line in the base period |
| **lost** | − Σ S0 of items with no line in the current period |
| **fx** | per cell and document currency: S1 − D1 × S0 / D0 (the current document spend \
at the current rates less at the cell's own base rate); 0 in the reporting currency, and 0 \
where the cell bought nothing in that currency in the base period (no base rate to compare: \
the change stays in price, volume and mix) |
| **price** | cells with a quantity in both periods: (S1 − fx) − S0 × Q1 / Q0 = \
(p1 at the base rate − p0) × Q1: procurement's price savings (negative = bought cheaper) |
| **volume** | cells with a quantity: (Q1 − Q0) × ΣS0 / ΣQ0 of its unit group (category × \
unit of measure; an item without a unit alone): more or less bought, at the base average \
price of the same unit |
| **mix** | the rest of those cells: S1 − S0 − fx − price − volume (the shift between \
dearer and cheaper items, suppliers and cost centres of the same unit) |
| **unquantified** | cells of items bought in both periods without net quantity in \
either (services): S1 − S0 − fx, compared as spend |
| **current** | Σ S1 = total spend of the current period |

**base + price + fx + volume + mix + unquantified + new + lost = current**, to the cent.

Order of the decomposition: exchange rates first (current document amounts restated at the
base rate), then price at the base rate on current quantities, then volume and mix at base
prices. Every figure is rounded to the cent per cell; mix and unquantified are each cell's
residual. When a unit group's base quantity nets to zero (credit notes), volume is 0 and
the change shows as mix. Lines without an exchange rate are left out, as in total spend.
"""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # a plain date, as period_range reads one
# the kind of a period text: a plain date is a day; a label is a month, quarter or year
_KINDS = {"day": "days", "month": "months", "quarter": "quarters", "year": "fiscal years"}


class BridgeError(ValueError):
    """A bridge that cannot be drawn (bad period, dimension, filter or currency)."""


def _kind(text: str) -> str:
    """ "day", "month", "quarter" or "year" for a period text period_range accepted."""
    text = text.strip()
    return "day" if _DATE.fullmatch(text) else periods.grain_of(text)


def bridge_periods(
    from_period: str, to_period: str, store: Store, allow_unequal: bool = False
) -> tuple[tuple[date, date], tuple[date, date]]:
    """First and last day of the base and the current period.

    Refused: a base starting later, periods that overlap (a line would be both base and
    current), and periods of different kinds unless `allow_unequal` (a year against a
    quarter is not a saving).
    """
    cal = store.settings.fiscal
    try:
        base = periods.period_range(from_period, cal)
        current = periods.period_range(to_period, cal)
    except periods.PeriodError as exc:
        raise BridgeError(str(exc)) from exc
    if base[0] > current[0]:
        raise BridgeError(
            f"the base period {from_period} starts after the current period {to_period}; "
            "give the earlier period first"
        )
    if base[1] >= current[0]:
        raise BridgeError(
            f"the periods {from_period} ({base[0]} to {base[1]}) and {to_period} "
            f"({current[0]} to {current[1]}) overlap; choose a base period that ends before "
            "the current one starts"
        )
    kinds = _kind(from_period), _kind(to_period)
    if kinds[0] != kinds[1] and not allow_unequal:
        raise BridgeError(
            f"the periods differ in length ({from_period} is {_article(kinds[0])}, "
            f"{to_period} {_article(kinds[1])}); compare two {_KINDS[kinds[1]]}, or allow "
            "periods of different length on purpose (--allow-unequal on the command line, "
            "'Compare periods of different length' on the Savings page)"
        )
    return base, current


def _article(kind: str) -> str:
    return f"a {'fiscal year' if kind == 'year' else kind}"


def savings_bridge(
    store: Store,
    scope: Scope,
    from_period: str,
    to_period: str,
    by: str | None = None,
    allow_unequal: bool = False,
) -> pl.DataFrame:
    """The bridge from `from_period` to `to_period` (see the module docstring).

    One row, or with `by` one row per value of that dimension (column named after it);
    money columns COLUMNS are exact Decimal(38,2). The scope's filters (FILTERS) and
    currency apply; its period range does not.
    """
    if by is not None and by not in DIMENSIONS:
        raise BridgeError(
            f"cannot split the savings bridge by '{by}'; allowed: {', '.join(DIMENSIONS)}"
        )
    unknown = scope.ignored(FILTERS)
    if unknown:
        raise BridgeError(
            f"cannot filter the savings bridge on {', '.join(unknown)}; "
            f"allowed: {', '.join(FILTERS)}"
        )
    currency = scope.currency
    if currency and currency.upper() not in CURRENCIES:
        raise BridgeError(f"unknown currency '{currency}'")
    base, current = bridge_periods(from_period, to_period, store, allow_unequal)
    query, params = sql_savings.bridge_query(base, current, by, scope.as_dict())
    frame = run_view_query(store, query, params, currency)
    money = pl.Decimal(38, 2)
    schema = {**({by: pl.String} if by else {}), **{c: money for c in COLUMNS}}
    if not frame.columns:
        return pl.DataFrame(schema=schema)
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])
