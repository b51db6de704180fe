"""Payment terms and cash: the payment policy, the page's analyses and the terms simulator.

Finance wants long terms for cash; procurement knows what long terms do to suppliers. The
simulator puts both sides of a terms change on the same numbers: the cash released and
what it is worth, against the early-payment discounts lost, the price suppliers are likely
to pass on, and the suppliers put at risk. Money is Decimal, rounded to the cent per
supplier, so the totals are the exact sums of the rows shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl
import yaml

from kpi.analyses.kpi_figures import kpi_columns
from kpi.core.people import Person
from kpi.core.permissions import require_scenario_saver
from kpi.core.scope import Scope
from kpi.core.settings import FiscalCalendar, Settings, config_dir
from kpi.semantic.definitions import DefinitionsError, load_definitions
from kpi.semantic.engine import compute, run_view_query
from kpi.semantic.formula_guard import guard_filter
from kpi.store.database import Store
from kpi.store.queries import working_capital as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.store.query import fetch_frame
from kpi.store.schema import all_ddl
from kpi.store.stores import with_settings
from kpi.store.views import create_views

CENT = Decimal("0.01")
DAYS_PER_YEAR = Decimal(365)
MAX_TERMS_DAYS = 365


class PolicyError(ValueError):
    """payment_policy.yaml is unreadable or holds a value that makes no sense."""


class ScenarioError(ValueError):
    """A simulation or a saved scenario that cannot be made; the message says why."""


# ---- the payment policy -------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentPolicy:
    """Target terms, legal maxima per country and the rates the simulator uses."""

    target_terms_days: int = 60
    legal_max_default: int | None = None
    legal_max_by_country: Mapping[str, int | None] = field(default_factory=dict)
    cost_of_capital: Decimal = Decimal("0.06")
    supplier_cost_of_capital: Mapping[str, Decimal] = field(
        default_factory=lambda: {"default": Decimal("0.08")}
    )

    def legal_max(self, country: str | None) -> int | None:
        """The legal maximum of terms for a supplier's country (None: none known)."""
        key = (country or "").upper()
        if key in self.legal_max_by_country:
            return self.legal_max_by_country[key]
        return self.legal_max_default

    def supplier_rate(self, size: str | None) -> Decimal:
        rates = self.supplier_cost_of_capital
        return rates.get((size or "").lower(), rates.get("default", Decimal(0)))


def _rate(value: object, where: str, path: Path) -> Decimal:
    try:
        rate = Decimal(str(value))
    except ArithmeticError:
        rate = Decimal(-1)
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise PolicyError(f"{path}: {where} must be a yearly rate between 0 and 1, e.g. 0.06")
    return rate


def _days(value: object, where: str, path: Path, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        none = " or null" if allow_none else ""
        raise PolicyError(f"{path}: {where} must be a positive whole number of days{none}")
    return value


def load_policy(path: Path | None = None) -> PaymentPolicy:
    """Read payment_policy.yaml; a missing file means the defaults, a bad value is refused."""
    path = path or config_dir() / "payment_policy.yaml"
    if not path.exists():
        return PaymentPolicy()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML ({exc})") from exc
    legal = raw.get("legal_max_days") or {}
    countries = {
        str(c).upper(): _days(d, f"legal_max_days.countries.{c}", path, allow_none=True)
        for c, d in (legal.get("countries") or {}).items()
    }
    supplier = {
        str(k).lower(): _rate(v, f"supplier_cost_of_capital.{k}", path)
        for k, v in (raw.get("supplier_cost_of_capital") or {"default": 0.08}).items()
    }
    return PaymentPolicy(
        target_terms_days=_days(raw.get("target_terms_days", 60), "target_terms_days", path),
        legal_max_default=_days(
            legal.get("default"), "legal_max_days.default", path, allow_none=True
        ),
        legal_max_by_country=countries,
        cost_of_capital=_rate(raw.get("cost_of_capital", 0.06), "cost_of_capital", path),
        supplier_cost_of_capital=supplier,
    )


# ---- payment terms & cash page ------------------------------------------------------------
# the KPIs whose figures the page and the simulator take from the engine
DAYS_TO_PAY_KPI = "days_to_pay"
EARLY_PAYMENT_KPI = "early_payment_without_discount"
OVERDUE_KPI = "overdue_payables"
# what the payment figures can be narrowed by (a payment knows its invoice's category and
# cost centre); the simulator moves whole suppliers, so it honours no filter at all
TERMS_FILTERS = ("category", "cost_centre")
SIMULATOR_FILTERS: tuple[str, ...] = ()


def _payments(store: Store, built: tuple[str, dict], scope: Scope) -> pl.DataFrame:
    query, params = built
    params = {**params, **scope.period_params()}
    return run_view_query(store, query, params, scope.currency)


def terms_by_segment(store: Store, scope: Scope, segment: str) -> pl.DataFrame:
    """Contractual terms, invoice terms and actual days to pay per supplier segment."""
    scope.params(TERMS_FILTERS)  # refuses a filter these figures cannot honour
    frame = _payments(store, q.terms_by_segment(segment, scope.as_dict()), scope)
    # days to pay is the KPI, by the engine, split by the segment (one definition)
    defs = _defined(store, [DAYS_TO_PAY_KPI])  # none from a broken file: the column is empty
    kpi = kpi_columns(store, scope, {"days_to_pay": DAYS_TO_PAY_KPI}, segment, defs)
    kpi = kpi.select(pl.col(segment).alias("segment"), pl.col("days_to_pay").round(1))
    joined = frame.join(kpi, on="segment", how="left", nulls_equal=True)
    return joined.select("segment", "suppliers", "paid_amount", "days_to_pay", *frame.columns[3:])


def _defined(store: Store, kpi_ids: list[str]) -> list:
    """The definitions of those KPIs that config/kpis.yaml holds (an edited file may not; a
    broken one holds none: its figures stay empty and the app says the file is broken)."""
    try:
        definitions = load_definitions(None, store.settings)
    except DefinitionsError:
        return []
    return [k for k in definitions if k.id in kpi_ids]


def _kpis_by_month(store: Store, scope: Scope, kpi_ids: list[str]) -> pl.DataFrame:
    """KPIs per month over the scope, by the engine: `period` and one column per KPI (empty
    for a KPI the definitions do not hold: there is no formula to compute it by)."""
    defs, filters = _defined(store, kpi_ids), scope.as_dict()
    result = compute(store, defs, "month", (), scope.start, scope.end, filters, scope.currency)
    result = result.frame
    frame = pl.DataFrame({"period": sorted(set(result["period"].to_list()))}, {"period": pl.String})
    for kpi_id in kpi_ids:
        values = result.filter(pl.col("kpi") == kpi_id).select("period", pl.col("value"))
        frame = frame.join(values.rename({"value": kpi_id}), on="period", how="left")
    return frame


def payments_by_month(store: Store, scope: Scope) -> pl.DataFrame:
    """Per month paid: days to pay vs terms, late payments (SMEs apart), discounts, early
    payment without discount. Days to pay and early payment are the KPIs, by the engine."""
    scope.params(TERMS_FILTERS)
    frame = _payments(store, q.payments_by_month(scope.as_dict()), scope)
    kpis = _kpis_by_month(store, scope, [DAYS_TO_PAY_KPI, EARLY_PAYMENT_KPI])
    kpis = kpis.with_columns(pl.col(DAYS_TO_PAY_KPI).round(1))
    return frame.join(kpis, on="period", how="left").select(
        "period", DAYS_TO_PAY_KPI, *[c for c in frame.columns if c != "period"], EARLY_PAYMENT_KPI
    )


def overdue_by_bucket(store: Store, scope: Scope) -> pl.DataFrame | None:
    """The overdue_payables KPI by ageing bucket (by the engine), as of the last data day:
    the sidebar's period does not move it, its category and cost-centre filters do. None
    when the definitions do not hold the KPI."""
    scope.params(TERMS_FILTERS)
    defs = _defined(store, [OVERDUE_KPI])
    if not defs:
        return None
    frame = compute(
        store, defs, "month", ["ageing_bucket"], filters=scope.as_dict(), currency=scope.currency
    ).frame
    return frame.filter(pl.col("ageing_bucket").is_not_null()).select(
        "ageing_bucket", pl.col("value").alias("overdue_amount"), pl.col("period").alias("month")
    )


def overdue_lines(store: Store, scope: Scope) -> pl.DataFrame:
    """The open lines past their due date on the last data day, oldest first."""
    scope.params(TERMS_FILTERS)
    query, params = q.overdue_lines(scope.as_dict())
    return run_view_query(store, query, params, scope.currency)


def policy_breaches(store: Store, scope: Scope, policy: PaymentPolicy) -> pl.DataFrame:
    """Suppliers whose contractual terms are longer than the target or the legal maximum."""
    scope.params(TERMS_FILTERS)
    frame = _payments(store, q.supplier_terms(scope.as_dict()), scope)
    legal = {c: policy.legal_max(c) for c in frame["country"].unique().to_list()}
    frame = frame.with_columns(
        pl.col("country")
        .replace_strict(legal, default=None, return_dtype=pl.Int64)
        .alias("legal_max_days"),
        pl.lit(policy.target_terms_days).alias("target_terms_days"),
    )
    over_target = pl.col("payment_terms_days") > pl.col("target_terms_days")
    over_legal = pl.col("payment_terms_days") > pl.col("legal_max_days")
    breach = (
        pl.when(over_legal.fill_null(False))
        .then(pl.lit("over the legal maximum"))
        .when(over_target.fill_null(False))
        .then(pl.lit("over target terms"))
    )
    return (
        frame.with_columns(breach.alias("breach"))
        .filter(pl.col("breach").is_not_null())
        .select(
            "supplier_id",
            "supplier",
            "country",
            "size",
            "breach",
            "payment_terms_days",
            "target_terms_days",
            "legal_max_days",
            "days_to_pay",
            "paid_amount",
            "late_invoices",
        )
    )


# ---- terms simulator ----------------------------------------------------------------------
# The headline never shows a net benefit without the legal breaches beside it: the suppliers
# the new terms put over their country's legal maximum are counted, and the benefit is also
# given with them left out (the last two keys).
SUMMARY_KEYS = (
    "suppliers_affected",
    "annual_spend",
    "cash_released",
    "annual_financing_benefit",
    "discounts_forgone",
    "supplier_price_passthrough",
    "net_benefit",
    "suppliers_at_risk",
    "suppliers_over_legal_max",
    "net_benefit_without_legal_breaches",
)
# the money of a saved scenario's own columns (terms_scenarios)
MONEY_KEYS = SUMMARY_KEYS[1:7]


@lru_cache(maxsize=4)
def segment_columns(settings: Settings) -> dict[str, str]:
    """The columns a simulator filter may use, with their types (read off an empty store)."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings)
        rows = con.execute(q.SUPPLIER_SEGMENT_COLUMNS, q.NO_SEGMENT).fetchall()
        return {r[0]: r[1] for r in rows}
    finally:
        con.close()


@dataclass
class TermsScenario:
    """A simulated terms change: the inputs, the totals and one row per supplier affected."""

    new_terms_days: int
    where: str | None
    window_start: date | None
    window_end: date | None
    currency: str
    policy: PaymentPolicy
    summary: dict[str, object]
    suppliers: pl.DataFrame

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready values: money as numbers with two decimals, dates as ISO text."""
        out: dict[str, object] = {
            k: (float(v) if isinstance(v, Decimal) else v) for k, v in self.summary.items()
        }
        out |= {
            "new_terms_days": self.new_terms_days,
            "where": self.where,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "currency": self.currency,
            "cost_of_capital": float(self.policy.cost_of_capital),
        }
        return out


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _today_days(row: dict) -> tuple[Decimal | None, str]:
    """Days we pay this supplier in today, and what they rest on.

    The days_to_pay KPI over the lines paid in the year, blended by amount with the invoices
    still open past their due date at their age so far (last day - invoice date): (KPI x
    amount paid + sum of open amount x age) / (amount paid + open amount).
    """
    kpi = row["days_to_pay"]
    paid = Decimal(row["paid_amount"] or 0) if kpi is not None else Decimal(0)
    open_amount = Decimal(row["open_overdue_amount"] or 0)
    open_days = Decimal(row["open_overdue_amount_days"] or 0)
    if open_amount <= 0:
        return (Decimal(kpi), "days paid") if kpi is not None else (None, "")
    if paid <= 0:
        return (open_days / open_amount).quantize(Decimal("0.1"), ROUND_HALF_UP), "open overdue"
    blended = (Decimal(kpi) * paid + open_days) / (paid + open_amount)
    return blended.quantize(Decimal("0.1"), ROUND_HALF_UP), "days paid + open overdue"


def _supplier_effect(row: dict, days: int, policy: PaymentPolicy) -> dict:
    """The arithmetic for one supplier (see README, 'Terms simulator').

    Cash follows the change in the days we actually pay in; price pass-through and the
    supplier-risk flags follow the change in the contractual terms (a supplier on 60-day
    terms paid in 20 and moved to 60 sees no change of terms: no pass-through, no flag).
    """
    spend = Decimal(row["annual_spend"] or 0)
    terms = row["payment_terms_days"]
    today, basis = _today_days(row)
    if today is None:
        today, basis = (Decimal(terms), "terms") if terms is not None else (Decimal(days), "none")
    change = Decimal(days) - today
    # a supplier without contractual terms: the change in actual days stands in for them
    contract_change = Decimal(days - terms) if terms is not None else change
    cash = _cents(spend * change / DAYS_PER_YEAR)
    financing = _cents(cash * policy.cost_of_capital)
    loses_discount = Decimal(row["discount_pct"] or 0) > 0 and (
        row["discount_days"] is None or days > row["discount_days"]
    )
    forgone = Decimal(row["discounts_captured"] or 0) if loses_discount else Decimal(0)
    rate = policy.supplier_rate(row["size"])
    passthrough = _cents(rate * max(contract_change, Decimal(0)) / DAYS_PER_YEAR * spend)
    legal = policy.legal_max(row["country"])
    over_legal = legal is not None and days > legal
    flags = []
    if contract_change > 0 and row["size"] == "sme":
        flags.append("SME")
    if contract_change > 0 and row["strategic"]:
        flags.append("strategic")
    if contract_change > 0 and row["single_source"]:
        flags.append("single source")
    if over_legal:
        flags.append(f"over legal max ({legal} d)")
    return {
        "today_days": today,
        "today_basis": basis,
        "days_change": change,
        "contract_terms_change": contract_change,
        "cash_released": cash,
        "annual_financing_benefit": financing,
        "discounts_forgone": _cents(forgone),
        "supplier_price_passthrough": passthrough,
        "net_benefit": financing - _cents(forgone) - passthrough,
        "legal_max_days": legal,
        "over_legal_max": over_legal,
        "risk_flags": ", ".join(flags),
        "why": _why(terms, today, days, contract_change, over_legal, legal),
    }


def _why(terms: int | None, today: Decimal, days: int, contract_change: Decimal,
         over_legal: bool, legal: int | None) -> str:  # fmt: skip
    """The supplier's line in plain words: what moves the cash, what moves its prices."""
    cash = f"paid in {today} d today, {days} d after: cash follows the {days - today:+} d"
    if terms is None:
        price = "no contractual terms known: pass-through on the change in days paid"
    elif contract_change > 0:
        price = f"terms {terms} -> {days} d: pass-through on {contract_change} d added"
    else:
        price = f"terms {terms} -> {days} d: no terms added, no pass-through"
    legal_text = f"; over the legal maximum of {legal} d" if over_legal else ""
    return f"{cash}; {price}{legal_text}"


def _with_passthrough(row: dict, effect: dict, pct: Mapping[str, Decimal] | None) -> dict:
    """The effect with procurement's expected pass-through (percent of the supplier's
    spend) in place of the model's, when procurement gave one for this supplier."""
    if not pct or pct.get(row["supplier_id"]) is None:
        return effect
    given = Decimal(str(pct[row["supplier_id"]]))
    passthrough = _cents(Decimal(row["annual_spend"] or 0) * given / 100)
    net = effect["annual_financing_benefit"] - effect["discounts_forgone"] - passthrough
    why = f"{effect['why']}; procurement expects {given} % pass-through"
    return {**effect, "supplier_price_passthrough": passthrough, "net_benefit": net, "why": why}


_SUPPLIER_SCHEMA = {
    "supplier_id": pl.String,
    "supplier_name": pl.String,
    "risk_flags": pl.String,
    "country": pl.String,
    "size": pl.String,
    "category": pl.String,
    "preferred": pl.Boolean,
    "strategic": pl.Boolean,
    "single_source": pl.Boolean,
    "payment_terms_days": pl.Int64,
    "days_to_pay": pl.Decimal(9, 1),
    "today_days": pl.Decimal(9, 1),
    "today_basis": pl.String,
    "new_terms_days": pl.Int64,
    "days_change": pl.Decimal(9, 1),
    "contract_terms_change": pl.Decimal(9, 1),
    "legal_max_days": pl.Int64,
    "over_legal_max": pl.Boolean,
    "annual_spend": pl.Decimal(18, 2),
    "cash_released": pl.Decimal(18, 2),
    "annual_financing_benefit": pl.Decimal(18, 2),
    "discounts_forgone": pl.Decimal(18, 2),
    "supplier_price_passthrough": pl.Decimal(18, 2),
    "net_benefit": pl.Decimal(18, 2),
    "open_overdue_amount": pl.Decimal(18, 2),
    "why": pl.String,
}


def _days_to_pay_by_supplier(
    store: Store, first_day: date, last_day: date, currency: str | None
) -> tuple[list[str], list[float]]:
    """The days_to_pay KPI per supplier over [first_day, last_day], by the engine.

    The engine groups by period; a fiscal calendar whose year starts in the window's first
    month makes these twelve months one period, so each supplier gets one value of the KPI.
    Definitions without the KPI give no value at all (no second formula stands in for it):
    each supplier's days today then rest on its open overdue invoices or its terms.
    """
    try:
        kpi = _defined(store, [DAYS_TO_PAY_KPI])
    except DefinitionsError as exc:
        raise ScenarioError(f"config/kpis.yaml cannot be read: {exc}") from exc
    if not kpi:
        return [], []
    year = replace(store.settings, fiscal=FiscalCalendar(year_start_month=first_day.month))
    result = compute(
        with_settings(store, year), kpi, "year", ["supplier_id"], first_day, last_day,
        currency=currency,
    )  # fmt: skip
    if DAYS_TO_PAY_KPI in result.skipped:
        raise ScenarioError(
            f"the KPI '{DAYS_TO_PAY_KPI}' must allow the dimension supplier_id for the "
            f"simulator ({result.skipped[DAYS_TO_PAY_KPI]})"
        )
    frame = result.frame.filter(pl.col("value").is_not_null())
    return frame["supplier_id"].to_list(), frame["value"].to_list()


def simulate_terms(
    store: Store,
    new_terms_days: int,
    where: str | None = None,
    as_of: date | None = None,
    policy: PaymentPolicy | None = None,
    currency: str | None = None,
    *,
    days_by_supplier: Mapping[str, int] | None = None,
    passthrough_pct: Mapping[str, Decimal] | None = None,
) -> TermsScenario:
    """Move the suppliers matching `where` to `new_terms_days` and price both sides of it.

    Per supplier, over the twelve calendar months ending with the as-of date's month, up to
    it (default as-of: the last data day): cash released = spend x (new terms - today's
    days) / 365, where today's days are the days_to_pay KPI (computed by the engine) blended
    by amount with the invoices still open past their due date at their age so far (the
    contractual terms when nothing was paid or is overdue); its yearly value = cash x our
    cost of capital; discounts forgone = discounts taken, when the new terms are beyond the
    discount days; price pass-through = the supplier's cost of capital x contractual days
    added / 365 x spend; net = value - discounts - pass-through. Suppliers the new terms put
    over their legal maximum are counted, and the net is also given without them.

    A terms proposal is recomputed with `days_by_supplier` (only those suppliers, each to
    its own days; `new_terms_days` is then only the headline) and procurement's expected
    price pass-through in percent of spend per supplier (`passthrough_pct`), which then
    replaces the model's pass-through for that supplier.
    """
    if isinstance(new_terms_days, bool) or not 0 <= int(new_terms_days) <= MAX_TERMS_DAYS:
        raise ScenarioError(f"new terms must be 0 to {MAX_TERMS_DAYS} days")
    days = int(new_terms_days)
    policy = policy or load_policy()
    text = (where or "").strip() or None
    condition = None
    if text:
        condition = guard_filter(text, segment_columns(store.settings), view="suppliers")
    # on the engine of the settings, as the KPI it reads (DuckDB's store or Spark's lake)
    year = run_view_query(store, q.SIMULATOR_YEAR, {"as_of": as_of}, currency)
    first_day, window_end = year.row(0)
    ids: list[str] = []
    values: list[float] = []
    if window_end is not None:
        ids, values = _days_to_pay_by_supplier(store, first_day, window_end, currency)
    params = {
        "first_day": first_day,
        "last_day": window_end,
        "kpi_supplier_ids": ids,
        "kpi_days_to_pay": values,
    }
    rows = run_view_query(store, q.supplier_segment(condition), params, currency)
    chosen = {str(k): int(v) for k, v in (days_by_supplier or {}).items()}
    if days_by_supplier is not None:
        rows = rows.filter(pl.col("supplier_id").is_in(list(chosen)))
    # one Decimal computation per supplier (a few hundred rows): DuckDB divides DECIMALs in
    # floating point, and rounding each supplier to the cent makes the totals their sums
    effects = [
        _with_passthrough(
            r, _supplier_effect(r, chosen.get(r["supplier_id"], days), policy), passthrough_pct
        )
        for r in rows.iter_rows(named=True)
    ]
    suppliers = pl.DataFrame(
        [
            {
                **{k: r.get(k) for k in _SUPPLIER_SCHEMA},
                **e,
                "new_terms_days": chosen.get(r["supplier_id"], days),
            }
            for r, e in zip(rows.iter_rows(named=True), effects, strict=True)
        ],
        schema=_SUPPLIER_SCHEMA,
    )
    summary: dict[str, object] = {"suppliers_affected": suppliers.height}
    spends = (Decimal(r["annual_spend"] or 0) for r in rows.iter_rows(named=True))
    summary["annual_spend"] = sum(spends, Decimal("0.00"))
    for key in MONEY_KEYS[1:]:
        summary[key] = sum((e[key] for e in effects), Decimal("0.00"))
    summary["suppliers_at_risk"] = sum(1 for e in effects if e["risk_flags"])
    summary["suppliers_over_legal_max"] = sum(1 for e in effects if e["over_legal_max"])
    summary["net_benefit_without_legal_breaches"] = sum(
        (e["net_benefit"] for e in effects if not e["over_legal_max"]), Decimal("0.00")
    )
    return TermsScenario(
        new_terms_days=days,
        where=text,
        window_start=first_day,
        window_end=window_end,
        currency=(currency or store.settings.reporting_currency).upper(),
        policy=policy,
        summary=summary,
        suppliers=suppliers,
    )


# ---- saved scenarios ----------------------------------------------------------------------
def save_scenario(store: Store, person: Person | None, scenario: TermsScenario, name: str) -> int:
    """Keep a scenario with who saved it and when (UTC); returns its id."""
    require_scenario_saver(person)
    title = (name or "").strip()
    if not title:
        raise ScenarioError("give the scenario a name")
    s = scenario.summary
    with store.write() as con:
        (next_id,) = con.execute(
            "SELECT coalesce(max(scenario_id), 0) + 1 FROM terms_scenarios"
        ).fetchone()
        con.execute(
            "INSERT INTO terms_scenarios VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                next_id,
                title[:200],
                datetime.now(UTC).replace(tzinfo=None),
                person.email,
                person.name,
                scenario.new_terms_days,
                scenario.where,
                scenario.currency,
                s["suppliers_affected"],
                *[s[k] for k in MONEY_KEYS],
                s["suppliers_at_risk"],
                json.dumps(scenario.as_dict()),
            ],
        )
    return int(next_id)


def list_scenarios(store: Store) -> pl.DataFrame:
    """Saved scenarios, newest first (empty when none was ever saved)."""
    with store.read() as con:
        exists = con.execute(HAS_TABLE, {"name": "terms_scenarios"}).fetchall()
        if not exists[0][0]:
            return pl.DataFrame()
        return fetch_frame(
            con,
            "SELECT * EXCLUDE (detail) FROM terms_scenarios ORDER BY scenario_id DESC",
        )
