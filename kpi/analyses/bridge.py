"""The savings bridge: how spend moved from a base period to a current period, and why.

Finance sees the expense line move; procurement claims price savings. The bridge shows
both on one line: base spend + price effect + volume effect + mix effect + new items +
lost items = current spend, to the cent, for the whole company or per category, cost
centre, supplier, supplier size or country.

Definitions (also in `FORMULAS`, which the app shows):

- Lines: invoice lines of the `spend` view (amount in the reporting currency, converted at
  each invoice's date) whose invoice_date lies in the period, after the filters. A line
  whose amount cannot be converted (no fx rate) is left out, as `total_spend` leaves it out.
- Key: (scope value when split, item). The item is `item_id`; lines without an item make
  one key "(no item)" per category. Per key: S0 = Σ amount and Q0 = Σ quantity in the
  base period (a line without quantity counts 0), S1 and Q1 likewise in the current one.
- A key is continuing when Q0 ≠ 0 and Q1 ≠ 0; then p0 = S0 / Q0 and p1 = S1 / Q1.
- base = Σ S0 (= total_spend of the base period); current = Σ S1 (= total_spend then).
- price = Σ over continuing keys of (p1 − p0) × Q1, each key rounded to the cent.
- volume = (ΣQ1 − ΣQ0) × ΣS0 / ΣQ0 over the continuing keys of the scope, to the cent
  (0 when their ΣQ0 is 0, e.g. credit notes cancel the quantities: the change is then mix).
- mix = (ΣS1 − ΣS0 over continuing keys) − price − volume: the residual, so the identity
  holds to the cent.
- new = Σ S1 and lost = −Σ S0 over the keys that are not continuing (a key bought in both
  periods with zero net quantity in one of them counts in both).
- base + price + volume + mix + new + lost = current, exactly.

Amounts are in the reporting currency, so a change of exchange rate shows in the price
effect, as it does in the expense line. The aggregation runs in DuckDB (kpi/store/queries/bridge.py)
on whole cents, so every figure is an exact Decimal.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from kpi.core import periods
from kpi.core.scope import Scope
from kpi.store.database import Store
from kpi.store.queries import bridge as sql_savings
from kpi.store.query import run
from kpi.store.schema import CURRENCIES

DIMENSIONS = sql_savings.BRIDGE_DIMENSIONS
FILTERS = sql_savings.BRIDGE_FILTERS
COLUMNS = sql_savings.MONEY_COLUMNS  # base, price, volume, mix, new, lost, current

LABELS = {
    "base": "base spend",
    "price": "price effect",
    "volume": "volume effect",
    "mix": "mix effect",
    "new": "new items",
    "lost": "lost items",
    "current": "current spend",
}

FORMULAS = """\
**Savings bridge** from a base period to a current period, over invoice lines (`spend`,
amounts in the reporting currency at each invoice's date), in the chosen scope.

| term | formula |
| --- | --- |
| key | an item (`item_id`) in the scope; lines without an item: one key "(no item)" per category |
| S0, Q0 · S1, Q1 | spend and quantity of a key in the base · current period |
| continuing key | Q0 ≠ 0 and Q1 ≠ 0, with prices p0 = S0 / Q0 and p1 = S1 / Q1 |
| **base** | Σ S0 over all keys = total spend of the base period |
| **price** | Σ (p1 − p0) × Q1 over continuing keys, each rounded to the cent: \
procurement's price savings (negative = bought cheaper) |
| **volume** | (ΣQ1 − ΣQ0) × ΣS0 / ΣQ0 over continuing keys: more or less bought, \
at the base average price |
| **mix** | (ΣS1 − ΣS0 over continuing keys) − price − volume: the shift between cheaper \
and dearer items |
| **new** | Σ S1 of keys that are not continuing |
| **lost** | − Σ S0 of keys that are not continuing |
| **current** | Σ S1 over all keys = total spend of the current period |

**base + price + volume + mix + new + lost = current**, to the cent.

Notes: exchange-rate changes show in the price effect (amounts are in the reporting
currency). A key bought in both periods but with zero net quantity in one of them (credit
notes) counts in both new and lost. When the continuing keys' base quantity nets to zero,
volume is 0 and the change shows as mix. Lines without a quantity count their spend, not
a quantity; lines without an exchange rate are left out, as in total spend.
"""


class BridgeError(ValueError):
    """A bridge that cannot be drawn (bad period, dimension, filter or currency)."""


def bridge_periods(
    from_period: str, to_period: str, store: Store
) -> tuple[tuple[date, date], tuple[date, date]]:
    """First and last day of the base and the current period; the base may not start later."""
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
    return base, current


def savings_bridge(
    store: Store,
    scope: Scope,
    from_period: str,
    to_period: str,
    by: str | None = None,
) -> pl.DataFrame:
    """Price–volume–mix bridge from `from_period` to `to_period` (see the module docstring).

    One row, or with `by` one row per value of that dimension (column named after it);
    money columns base, price, volume, mix, new, lost, current are exact Decimal(38,2).
    The scope's filters (FILTERS) and currency apply; its period range does not.
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
    base, current = bridge_periods(from_period, to_period, store)
    query, params = sql_savings.bridge_query(base, current, by, scope.as_dict())
    frame = run(store, query, params, currency)
    money = pl.Decimal(38, 2)
    schema = {**({by: pl.String} if by else {}), **{c: money for c in COLUMNS}}
    if not frame.columns:
        return pl.DataFrame(schema=schema)
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])
