"""The pandas yardstick: a representative subset of the KPIs computed with pandas operations.

The canonical tables are read from DuckDB with `.df()` (only the columns the subset needs)
and everything after that is pandas: fx conversion, payment facts, budget against actual,
year on year, goods receipts against promises, stock classes (obsolete by last movement,
averaged per location over its own snapshots). Same meanings as the curated
views of kpi/store/views.py, for the demo's settings (fiscal year = calendar year, EUR
reporting).
Left out: the KPIs that need contract prices or savings initiatives (spend under
management, purchase price variance, the four savings KPIs) and supplier ranks.
"""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pandas as pd

KPIS = (
    "total_spend",
    "po_compliance",
    "maverick_spend_rate",
    "budget_utilisation",
    "expense_change_yoy",
    "days_to_pay",
    "on_time_payment_rate",
    "discount_capture_rate",
    "late_payment_rate_sme",
    "days_inventory",
    "excess_inventory_value",
    "safety_stock_value",
    "obsolete_stock_value",
    "supplier_otd",
    "po_cycle_time_days",
)
REPORTING = "EUR"
OBSOLETE_DAYS = 180


def load_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The columns the subset needs, one `.df()` per table."""
    wanted = {
        "invoices": "invoice_date, due_date, paid_date, supplier_id, po_id, amount, currency, "
        "discount_taken",
        "suppliers": "supplier_id, size, discount_pct, payment_terms_days",
        "supplier_terms": "supplier_id, valid_from, payment_terms_days, discount_pct",
        "fx_rates": "date, currency, rate",
        "budgets": "period, amount, currency",
        "purchase_orders": "po_id, po_line, po_date, approved_date, promised_date, quantity, "
        "status, item_id",
        "goods_receipts": "po_id, po_line, receipt_date, quantity",
        "inventory": "snapshot_date, item_id, location, on_hand_qty, unit_cost, currency, "
        "safety_stock_qty, max_stock_qty, last_issue_date, issued_qty_90d",
        "items": "item_id, criticality",
    }
    return {name: con.sql(f"SELECT {cols} FROM {name}").df() for name, cols in wanted.items()}


def compute(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """kpi, period, value for the subset, one row per KPI and quarter with data."""
    inv = t["invoices"]
    factor = _fx_factor(inv["currency"], inv["invoice_date"], t["fx_rates"])
    amount = _round(inv["amount"] * factor, 2)
    quarter = _quarter(inv["invoice_date"])
    frames = [
        _spend(amount, _on_po(inv, t["purchase_orders"]), quarter),
        _budget(inv, quarter, t["budgets"], t["fx_rates"]),
        _yoy(amount, inv["invoice_date"]),
        _payments(inv, amount, factor, t["suppliers"], t["supplier_terms"]),
        _inventory(t["inventory"], t["items"], _item_receipts(t), t["fx_rates"]),
        _purchase_orders(t["purchase_orders"], t["goods_receipts"], _last_data_day(t)),
    ]
    return pd.concat(frames, ignore_index=True)


def run(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, float, float]:
    """The subset's values, the seconds loading tables and the seconds computing."""
    start = time.perf_counter()
    tables = load_tables(con)
    loaded = time.perf_counter()
    result = compute(tables)
    return result, loaded - start, time.perf_counter() - loaded


# ---- helpers -----------------------------------------------------------------------------
def _round(x: pd.Series, places: int) -> pd.Series:
    """Round half away from zero, as DuckDB rounds DECIMAL (numpy rounds half to even)."""
    scale = 10.0**places
    return np.sign(x) * np.floor(np.abs(x) * scale + 0.5) / scale


def _cents_times_rate(cents: pd.Series, rate: pd.Series, rate_places: int) -> pd.Series:
    """Cents x a decimal rate, rounded half away from zero to the cent, in exact integers:
    DuckDB multiplies DECIMALs exactly, floats do not (9207.00 x 1.5 % = 138.105 exactly,
    138.10499999999999 in floats, which would round to 138.10 instead of 138.11)."""
    known = cents.notna() & rate.notna()
    whole = np.rint(cents.where(known, 0)).astype("int64")
    scale = 10**rate_places
    product = whole * np.rint(rate.where(known, 0) * scale).astype("int64")
    rounded = np.sign(product) * ((np.abs(product) + scale // 2) // scale)
    return rounded.where(known)


def _quarter(dates: pd.Series) -> pd.Series:
    d = pd.to_datetime(dates)
    year, quarter = d.dt.year.astype("Int64"), d.dt.quarter.astype("Int64")
    return "FY" + year.astype("string") + "-Q" + quarter.astype("string")


def _fx_factor(currency: pd.Series, dates: pd.Series, fx: pd.DataFrame) -> pd.Series:
    """Units of EUR per unit of each row's currency at its date (latest rate on or before):
    the as-of merge runs on the distinct (currency, date) pairs, then a plain merge."""
    rows = pd.DataFrame({"currency": currency, "date": pd.to_datetime(dates)})
    keys = rows.drop_duplicates().dropna().sort_values("date")
    rates = fx.assign(date=pd.to_datetime(fx["date"])).sort_values("date")
    keys = pd.merge_asof(keys, rates, on="date", by="currency")
    keys.loc[keys["currency"] == REPORTING, "rate"] = 1.0
    return rows.merge(keys, on=["currency", "date"], how="left")["rate"].set_axis(rows.index)


def _long(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """period-indexed columns -> kpi, period, value."""
    frame = frame[list(names)].rename(columns=names)
    out = frame.rename_axis("period").reset_index().melt("period", var_name="kpi")
    return out[["kpi", "period", "value"]]


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return num.fillna(0) / den.where(den != 0)


def _cancelled(status: pd.Series) -> pd.Series:
    return status.fillna("").str.lower().isin(["cancelled", "canceled"])


def _on_po(inv: pd.DataFrame, po: pd.DataFrame) -> pd.Series:
    """Invoice lines on a valid PO: it exists, is approved (a line not cancelled with an
    approval date) and was raised on or before the invoice date."""
    heads = (
        po.assign(approved=po["approved_date"].notna() & ~_cancelled(po["status"]))
        .groupby("po_id")
        .agg(raised=("po_date", "min"), approved=("approved", "any"))
    )
    rows = inv[["po_id", "invoice_date"]].merge(heads, on="po_id", how="left")
    valid = rows["approved"].eq(True) & (rows["raised"] <= rows["invoice_date"])
    return valid.set_axis(inv.index)


def _last_data_day(t: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The latest order, approval, receipt, invoice or payment date."""
    po, inv = t["purchase_orders"], t["invoices"]
    dates = [po["po_date"], po["approved_date"], t["goods_receipts"]["receipt_date"]]
    dates += [inv["invoice_date"], inv["paid_date"]]
    return max(pd.to_datetime(d).max() for d in dates)


# ---- the KPIs ----------------------------------------------------------------------------
def _spend(amount: pd.Series, has_po: pd.Series, quarter: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"q": quarter, "amount": amount, "po": amount.where(has_po)})
    frame["no_po"] = amount.where(~has_po)
    g = frame.groupby("q").sum(min_count=1)
    g["po_compliance"] = _ratio(g["po"], g["amount"])
    g["maverick_spend_rate"] = _ratio(g["no_po"], g["amount"])
    names = {"amount": "total_spend", "po_compliance": "po_compliance"}
    return _long(g, {**names, "maverick_spend_rate": "maverick_spend_rate"})


def _budget_rate(currency: pd.Series, dates: pd.Series, fx: pd.DataFrame) -> pd.Series:
    """The budget rate of each row: the first rate of its fiscal (calendar) year and
    currency, 1 for EUR (the demo sets no `budget_rates`)."""
    rates = fx.assign(date=pd.to_datetime(fx["date"])).sort_values("date")
    rates = rates.assign(year=rates["date"].dt.year).groupby(["year", "currency"]).first()
    rows = pd.DataFrame({"year": pd.to_datetime(dates).dt.year, "currency": currency})
    rate = rows.merge(rates["rate"].reset_index(), on=["year", "currency"], how="left")["rate"]
    return rate.set_axis(rows.index).where(rows["currency"] != REPORTING, 1.0).astype(float)


def _budget(
    inv: pd.DataFrame, quarter: pd.Series, budgets: pd.DataFrame, fx: pd.DataFrame
) -> pd.DataFrame:
    """Budget and invoices at the same budget rate per currency and fiscal year."""
    month = pd.to_datetime(budgets["period"] + "-01")
    factor = _budget_rate(budgets["currency"], month, fx)
    budget = (budgets["amount"].astype(float) * factor).groupby(_quarter(month)).sum()
    rate = _budget_rate(inv["currency"], inv["invoice_date"], fx)
    actual = (inv["amount"].astype(float) * rate).groupby(quarter).sum()
    both = pd.DataFrame({"actual": actual, "budget": budget}).fillna(0)
    both["budget_utilisation"] = both["actual"] / both["budget"].where(both["budget"] != 0)
    return _long(both, {"budget_utilisation": "budget_utilisation"})


def _yoy(amount: pd.Series, invoice_date: pd.Series) -> pd.DataFrame:
    day = pd.to_datetime(invoice_date)
    by_day = amount.groupby(day).sum()
    first = day.min().to_period("M").to_timestamp()
    last = day.max()
    days = by_day.index.to_series()
    current = by_day[days >= first + pd.DateOffset(years=1)]
    moved = days + pd.DateOffset(years=1)
    prior = by_day[moved <= last].set_axis(moved[moved <= last])
    change = (
        current.groupby(_quarter(current.index.to_series()).values)
        .sum()
        .sub(prior.groupby(_quarter(prior.index.to_series()).values).sum(), fill_value=0)
    )
    name = "expense_change_yoy"
    return _long(change.to_frame(name), {name: name})


def _terms_of_the_day(inv: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    """Per invoice line, the supplier_terms row in force on its invoice date (NaN: none)."""
    # one key type on both sides (an empty or tiny table may come back as object)
    ids = inv["supplier_id"].astype("string")
    keys = pd.DataFrame({"supplier_id": ids, "day": pd.to_datetime(inv["invoice_date"])})
    pairs = keys.drop_duplicates().dropna().sort_values("day")
    history = terms.assign(
        supplier_id=terms["supplier_id"].astype("string"), day=pd.to_datetime(terms["valid_from"])
    ).sort_values("day")
    found = pd.merge_asof(pairs, history, on="day", by="supplier_id", direction="backward")
    return keys.merge(found, on=["supplier_id", "day"], how="left")


def _payments(
    inv: pd.DataFrame,
    amount: pd.Series,
    factor: pd.Series,
    suppliers: pd.DataFrame,
    terms: pd.DataFrame,
) -> pd.DataFrame:
    """Due date: the invoice's, else invoice date + terms in force that day; credit notes
    judged neither on time nor late and offer no discount; capture at most the offer."""
    paid = inv["paid_date"].notna()
    sup = inv[["supplier_id"]].merge(suppliers, on="supplier_id", how="left")
    day = _terms_of_the_day(inv, terms)
    in_force = day["valid_from"].notna().values
    terms_days = np.where(in_force, day["payment_terms_days"], sup["payment_terms_days"])
    pct = np.where(in_force, day["discount_pct"].fillna(0), sup["discount_pct"].fillna(0))
    derived = pd.to_datetime(inv["invoice_date"]) + pd.to_timedelta(terms_days, unit="D")
    due = pd.to_datetime(inv["due_date"]).fillna(derived)
    paid_on = pd.to_datetime(inv["paid_date"])
    credit = (inv["amount"] < 0).values
    judged = amount.where(~credit & due.notna().values)
    # the discount offered: amount x discount_pct % (a DECIMAL(9,4)), to the cent, exactly
    offered_pct = pd.Series(pct.astype(float), index=inv.index)
    available = (_cents_times_rate(amount * 100, offered_pct / 100, 6) / 100).where(~credit, 0.0)
    captured = _round(inv["discount_taken"].fillna(0) * factor, 2)
    frame = pd.DataFrame(
        {
            "q": _quarter(inv["paid_date"]),
            "amount": amount.where(~credit),
            "weighted_days": (amount * (inv["paid_date"] - inv["invoice_date"]).dt.days).where(
                ~credit
            ),
            "judged": judged,
            "on_time": judged.where((paid_on <= due).values),
            "captured": np.minimum(captured, available),
            "available": available,
            "sme": judged.where(sup["size"].values == "sme"),
        }
    )
    frame["sme_late"] = frame["sme"].where((paid_on > due).values)
    g = frame[paid].groupby("q").sum(min_count=1)
    g["days_to_pay"] = g["weighted_days"] / g["amount"].where(g["amount"] != 0)
    g["on_time_payment_rate"] = _ratio(g["on_time"], g["judged"])
    g["discount_capture_rate"] = _ratio(g["captured"], g["available"])
    g["late_payment_rate_sme"] = _ratio(g["sme_late"], g["sme"])
    names = ["days_to_pay", "on_time_payment_rate", "discount_capture_rate"]
    return _long(g, {n: n for n in [*names, "late_payment_rate_sme"]})


def _item_receipts(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each item's goods-receipt dates (any location), from the order line received."""
    po = t["purchase_orders"][["po_id", "po_line", "item_id"]].dropna(subset=["item_id"])
    got = t["goods_receipts"][["po_id", "po_line", "receipt_date"]].dropna()
    days = got.merge(po, on=["po_id", "po_line"])[["item_id", "receipt_date"]]
    return days.drop_duplicates().assign(receipt_date=lambda d: pd.to_datetime(d["receipt_date"]))


def _inventory(
    inv: pd.DataFrame, items: pd.DataFrame, receipts: pd.DataFrame, fx: pd.DataFrame
) -> pd.DataFrame:
    """Stock classes. Obsolete: idle more than OBSOLETE_DAYS since the last movement (the
    later of the last issue and the item's last receipt by the snapshot; with neither, the
    item's first snapshot at the location). Only a critical item (criticality critical or
    high) keeps its safety level when idle. Values per location over its own snapshot
    count in the quarter, summed over locations."""
    inv = inv.reset_index(drop=True)
    snap = pd.to_datetime(inv["snapshot_date"])
    cost = _round(inv["unit_cost"] * _fx_factor(inv["currency"], snap, fx), 4)
    on_hand, level = inv["on_hand_qty"], inv["safety_stock_qty"].fillna(0)
    # the item's latest receipt on or before each snapshot
    keyed = pd.DataFrame({"row": inv.index, "item_id": inv["item_id"], "date": snap})
    latest = (
        pd.merge_asof(
            keyed.sort_values("date"),
            receipts.rename(columns={"receipt_date": "date"})
            .assign(received=lambda d: d["date"])
            .sort_values("date"),
            on="date",
            by="item_id",
        )
        .set_index("row")["received"]
        .reindex(inv.index)
    )
    issued = pd.to_datetime(inv["last_issue_date"])
    moved = pd.concat([issued, latest], axis=1).max(axis=1)
    first_seen = snap.groupby([inv["item_id"], inv["location"]]).transform("min")
    idle = (snap - moved.fillna(first_seen)).dt.days
    criticality = inv[["item_id"]].merge(items, on="item_id", how="left")["criticality"]
    critical = criticality.fillna("").str.lower().isin(["critical", "high"]).set_axis(inv.index)
    obsolete = (idle > OBSOLETE_DAYS) & (~critical | (on_hand > level))
    safety = np.minimum(on_hand, level).where(~obsolete | critical, 0)
    ceiling = np.maximum(inv["max_stock_qty"].fillna(on_hand), safety)
    excess = np.maximum(on_hand - ceiling, 0).where(~obsolete, 0)
    frame = pd.DataFrame(
        {
            "q": _quarter(snap),
            "location": inv["location"],
            "snapshot": snap,
            "stock": _round(on_hand * cost, 2),
            "usage": inv["issued_qty_90d"].fillna(0) * cost / 90,
            "excess": _round(excess * cost, 2),
            "safety": _round(safety * cost, 2),
            "obsolete": _round((on_hand - safety).where(obsolete, 0) * cost, 2),
        }
    )
    per_location = frame.groupby(["q", "location"]).agg(
        stock=("stock", "sum"),
        usage=("usage", "sum"),
        excess=("excess", "sum"),
        safety=("safety", "sum"),
        obsolete=("obsolete", "sum"),
        snapshots=("snapshot", "nunique"),
    )
    averaged = per_location.drop(columns="snapshots").div(per_location["snapshots"], axis=0)
    g = averaged.groupby(level="q").sum()
    g["days_inventory"] = g["stock"] / g["usage"].where(g["usage"] != 0)
    names = {
        "days_inventory": "days_inventory",
        "excess": "excess_inventory_value",
        "safety": "safety_stock_value",
        "obsolete": "obsolete_stock_value",
    }
    return _long(g, names)


def _purchase_orders(
    po: pd.DataFrame, receipts: pd.DataFrame, last_day: pd.Timestamp
) -> pd.DataFrame:
    """On time in full (judged at the promised date, lines due by the last data day, not
    cancelled) and the approval cycle time."""
    timed = receipts.merge(po[["po_id", "po_line", "promised_date"]], on=["po_id", "po_line"])
    timed = timed.loc[timed["receipt_date"] <= timed["promised_date"]]
    by_promise = timed.groupby(["po_id", "po_line"], as_index=False).agg(
        qty=("quantity", "sum"), receipts=("receipt_date", "count")
    )
    lines = po.merge(by_promise, on=["po_id", "po_line"], how="left")
    promised = pd.to_datetime(lines["promised_date"])
    counted = promised.notna() & (promised <= last_day) & ~_cancelled(lines["status"])
    in_full = np.where(
        lines["quantity"].isna(),
        lines["receipts"].fillna(0) > 0,
        lines["qty"].fillna(0) >= lines["quantity"],
    )
    promised_lines = lines.loc[promised.notna()]
    otd = (
        pd.DataFrame(
            {
                "q": _quarter(promised_lines["promised_date"]),
                "on_time": (counted & in_full)[promised_lines.index],
                "counted": counted[promised_lines.index],
            }
        )
        .groupby("q")
        .sum()
    )
    otd["supplier_otd"] = otd["on_time"] / otd["counted"].where(otd["counted"] != 0)
    cycle = (
        (po["approved_date"] - po["po_date"])
        .dt.days.groupby(_quarter(po["po_date"]))
        .mean()
        .to_frame("po_cycle_time_days")
    )
    return pd.concat(
        [
            _long(otd, {"supplier_otd": "supplier_otd"}),
            _long(cycle, {"po_cycle_time_days": "po_cycle_time_days"}),
        ]
    )
