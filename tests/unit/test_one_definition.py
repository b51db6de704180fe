"""One definition everywhere: every page figure a KPI defines equals `kpi compute` for it.

FIGURES lists each such figure — the page function that gives it, its column, the KPI that
defines it and the page's split — and each is compared with the command line's computation
(engine.compute_cli, what `python -m kpi compute` runs) for the same period, on the small
store of tests/spend_fixture.py: ratios and days within 1e-9, money to the cent. Then a
formula is edited in a copy of config/kpis.yaml and the pages follow it, value by value.

The Payment terms & cash page's days to pay per segment and per month and the simulator's
baseline are the KPI by the engine too (tested below and in test_payments). Left on the
side: on the Suppliers page, the price variance per item of one supplier (SUPPLIER_ITEMS):
purchase_price_variance has no item dimension; and the overview chart's late share, which
is no KPI's figure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest

from kpi.analyses import kpi_figures, overview
from kpi.analyses import spend as sp
from kpi.analyses import suppliers as su
from kpi.core.scope import Scope
from kpi.core.settings import kpis_path
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from tests import spend_fixture

H1 = (date(2026, 1, 1), date(2026, 6, 30))
H1_SCOPE = Scope.of(*H1)
MONEY_KPIS = {"purchase_price_variance"}


def _scorecard(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
    return su.scorecard(store, scope, defs)


def _concentration(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
    return su.concentration(store, scope, defs)


def _concentration_hhi(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
    """The page's HHI (0–10,000) back on the KPI's 0–1 scale."""
    frame = su.concentration(store, scope, defs)
    return frame.with_columns(pl.col("herfindahl") / 10_000)


def _compliance(by: str) -> Callable[..., pl.DataFrame]:
    def page(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
        return sp.compliance_by(store, scope, sp.compliance_lines(store, scope), by, defs)

    page.__name__ = f"compliance_by_{by}"
    return page


def _approvals(by: str) -> Callable[..., pl.DataFrame]:
    def page(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
        return sp.approvals_by(store, scope, sp.approvals(store, scope), by, defs)

    page.__name__ = f"approvals_by_{by}"
    return page


def _totals(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
    return pl.DataFrame([sp.compliance_totals(store, scope, defs)])


def _overview_days_to_pay(store: Store, scope: Scope, defs=None) -> pl.DataFrame:
    frame = overview.days_to_pay_vs_terms(store, scope, defs)
    return frame.rename({"period": "month"})


# (page function, page column, KPI id, split): the split is a KPI dimension, 'month' (the
# KPI's own period column by month) or None (the whole period). Pages: Suppliers
# (scorecard, concentration), Spend (approvals and compliance tabs), Overview (days to pay).
FIGURES = [
    (_overview_days_to_pay, "days_to_pay", "days_to_pay", "month"),
    (_scorecard, "on_time_delivery", "supplier_otd", "supplier"),
    (_scorecard, "we_paid_on_time", "on_time_payment_rate", "supplier"),
    (_scorecard, "avg_days_to_pay", "days_to_pay", "supplier"),
    (_scorecard, "price_variance", "purchase_price_variance", "supplier"),
    (_concentration, "top5_share", "supplier_concentration_top5", "category"),
    (_concentration_hhi, "herfindahl", "supplier_hhi", "category"),
    (_approvals("month"), "mean_approval_days", "po_cycle_time_days", "month"),
    (_approvals("cost_centre"), "mean_approval_days", "po_cycle_time_days", "cost_centre"),
    (_totals, "mean_approval_days", "po_cycle_time_days", None),
    *[
        (_compliance(by), column, kpi, by)
        for by in ("month", "cost_centre", "category")
        for column, kpi in sp.COMPLIANCE_KPIS.items()
    ],
    *[(_totals, column, kpi, None) for column, kpi in sp.COMPLIANCE_KPIS.items()],
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return spend_fixture.build(tmp_path_factory.mktemp("one_definition") / "kpi.duckdb")


def _cli(store: Store, kpi: str, split: str | None) -> dict[str | None, float | None]:
    """`kpi compute --kpi <kpi> --grain range|month [--by <split>] --from .. --to ..`."""
    grain = "month" if split == "month" else "range"
    by = [split] if split and split != "month" else []
    start, end = (d.isoformat() for d in H1)
    frame = engine.compute_cli([kpi], grain, by, start, end, db=store.path).frame
    key = "period" if split == "month" else split
    return {(r[key] if key else None): r["value"] for r in frame.iter_rows(named=True)}


def _same(page: object, cli: float | None, kpi: str) -> bool:
    if page is None or cli is None:
        return page is None and cli is None
    if kpi in MONEY_KPIS:
        return page == D(f"{cli:.2f}")  # exact DECIMAL against the engine's double, to the cent
    return abs(float(page) - cli) <= 1e-9


def test_every_kpi_figure_of_the_pages_is_listed():
    """The mappings the analyses route through the engine are all in FIGURES."""
    listed = {(getattr(f, "__name__", ""), c) for f, c, _, _ in FIGURES}
    for column in su.SCORECARD_KPIS:
        assert ("_scorecard", column) in listed
    for column in su.CONCENTRATION_KPIS:
        assert {("_concentration", column), ("_concentration_hhi", column)} & listed
    for column in [*sp.COMPLIANCE_KPIS, *sp.APPROVAL_KPIS]:
        assert ("_totals", column) in listed
    for column in overview.DAYS_TO_PAY_KPIS:
        assert ("_overview_days_to_pay", column) in listed


@pytest.mark.parametrize(
    ("page", "column", "kpi", "split"),
    FIGURES,
    ids=[f"{f.__name__}-{c}-{k}-{s}" for f, c, k, s in FIGURES],
)
def test_page_figure_equals_kpi_compute(store, page, column, kpi, split):
    frame = page(store, H1_SCOPE)
    cli = _cli(store, kpi, split)
    key = split
    rows = [(r[key] if key else None, r[column]) for r in frame.iter_rows(named=True)]
    assert rows, f"{page.__name__} shows no rows"
    assert any(v is not None for _, v in rows), f"{column} is empty on {page.__name__}"
    for value_key, value in rows:
        assert _same(value, cli.get(value_key), kpi), (value_key, value, cli.get(value_key))


def test_supplier_history_is_the_kpi_for_that_supplier(store):
    """The supplier detail's per-month figures: the KPI filtered on the supplier's name."""
    h = su.supplier_history(store, H1_SCOPE, "A")
    for part, kpis in (("monthly", su.HISTORY_KPIS), ("deliveries", su.DELIVERY_KPIS)):
        for column, kpi in kpis.items():
            defs = engine.select_definitions(load_definitions(), [kpi])
            result = engine.compute(store, defs, "month", (), *H1, {"supplier": ["Alpha Pack"]})
            want = dict(result.frame.select("period", "value").rows())
            for month, value in h[part].select("month", column).rows():
                assert _same(value, want.get(month), kpi), (part, month, value, want)


def test_a_filtered_scope_is_the_kpi_with_the_same_filter(store):
    """With the sidebar's cost-centre filter the page asks the engine for the same filter."""
    scope = Scope.of(*H1, {"cost_centre": ["CC-A"]})
    card = su.scorecard(store, scope)
    defs = engine.select_definitions(load_definitions(), ["days_to_pay"])
    result = engine.compute(store, defs, "range", ["supplier"], *H1, {"cost_centre": ["CC-A"]})
    want = dict(result.frame.select("supplier", "value").rows())
    # CC-A: Alpha's INV1 and INV5 (as on the whole company), Beta only INV2: 69 days
    assert want["Beta Print"] == 69.0
    for supplier, value in card.select("supplier", "avg_days_to_pay").rows():
        assert _same(value, want.get(supplier), "days_to_pay")


def _edited(tmp_path: Path, formulas: dict[str, str]) -> list:
    """A copy of config/kpis.yaml with the formula of some KPIs replaced."""
    text = kpis_path().read_text(encoding="utf-8")
    out: list[str] = []
    current, replacing = None, False
    for line in text.splitlines(keepends=True):
        if replacing and line.startswith("      "):
            continue  # the folded lines of the formula replaced
        replacing = False
        if line.startswith("  - id: "):
            current = line.split(":", 1)[1].strip()
        elif current in formulas and line.startswith("    formula:"):
            out.append(f"    formula: {formulas[current]}\n")
            replacing = True
            continue
        out.append(line)
    path = tmp_path / "kpis.yaml"
    path.write_text("".join(out), encoding="utf-8")
    return load_definitions(path)


def test_editing_a_signed_formula_changes_the_pages(store, tmp_path):
    defs = _edited(
        tmp_path,
        {
            # share of due PO lines received at all (instead of on time)
            "supplier_otd": "count(*) filter (where received) / nullif(count(*), 0)",
            "days_to_pay": "avg(days_to_pay)",  # per line, not weighted by amount
            "po_cycle_time_days": "max(approval_days)",  # the slowest line
        },
    )
    card = {r["supplier_id"]: r for r in su.scorecard(store, H1_SCOPE, defs).iter_rows(named=True)}
    # Alpha's PO lines promised in H1: PO1/1 and PO4/1 received, PO4/2 not: 2 of 3
    assert card["A"]["on_time_delivery"] == pytest.approx(2 / 3, abs=1e-12)
    # unweighted: Alpha (26 + 40) / 2 = 33 days; Beta (69 + 9) / 2 = 39 days
    assert (card["A"]["avg_days_to_pay"], card["B"]["avg_days_to_pay"]) == (33.0, 39.0)
    by_cc = sp.approvals_by(store, H1_SCOPE, sp.approvals(store, H1_SCOPE), "cost_centre", defs)
    slowest = dict(by_cc.select("cost_centre", "mean_approval_days").rows())
    # CC-A: PO1 2 days, PO2 4, PO4 2 and 2: the slowest is 4 (the mean was 2.5)
    assert slowest["CC-A"] == 4.0
    # the signed file's formulas still give the agreed figures: 2.5 days, Alpha 100 % on time
    signed = sp.approvals_by(store, H1_SCOPE, sp.approvals(store, H1_SCOPE), "cost_centre")
    assert dict(signed.select("cost_centre", "mean_approval_days").rows())["CC-A"] == 2.5


def test_the_command_line_computes_the_whole_range_as_one_period(store):
    result = engine.compute_cli(
        ["days_to_pay"], "range", [], "2026-01-01", "2026-06-30", db=store.path
    )
    # lines paid in H1: INV1 210 x 26 days, INV2 250 x 69, INV3 300 x 9, INV5 200 x 40:
    # (5,460 + 17,250 + 2,700 + 8,000) / 960 = 33,410 / 960
    assert result.frame.select("period", "value").rows() == [
        ("2026-01-01..2026-06-30", pytest.approx(33410 / 960, abs=1e-12))
    ]


def test_one_quarter_is_the_kpi_of_that_quarter(store):
    """A range that is one fiscal quarter is reported as that quarter (what the tiles show,
    and where a KPI that ranks within its period ranks)."""
    q1 = Scope.of(date(2026, 1, 1), date(2026, 3, 31))
    for page, column, kpi, by in (
        (_scorecard, "on_time_delivery", "supplier_otd", "supplier"),
        (_concentration, "top5_share", "supplier_concentration_top5", "category"),
    ):
        cli = engine.compute_cli([kpi], "quarter", [by], "FY2026-Q1", "FY2026-Q1", db=store.path)
        want = {r[by]: r["value"] for r in cli.frame.iter_rows(named=True)}
        rows = page(store, q1).select(by, column).rows()
        assert rows and all(_same(v, want.get(k), kpi) for k, v in rows), (rows, want)


def test_a_kpi_without_a_definition_leaves_its_column_empty(store):
    defs = [k for k in load_definitions() if k.id != "supplier_otd"]
    card = su.scorecard(store, H1_SCOPE, defs)
    assert card["on_time_delivery"].null_count() == card.height
    assert card["avg_days_to_pay"].null_count() < card.height  # the others still come
    assert kpi_figures.undefined(defs, su.SCORECARD_KPIS, "supplier") == ["supplier_otd"]
    # a KPI that cannot be split by the page's dimension is named too
    assert kpi_figures.undefined(load_definitions(), {"x": "days_to_pay"}, "cost_centre") == [
        "days_to_pay"
    ]


@pytest.mark.parametrize("segment", ["supplier_size", "category", "country", "preferred"])
def test_payment_terms_page_days_to_pay_by_segment_is_the_kpi(store, segment):
    """The Payment terms & cash page's days to pay per supplier segment is days_to_pay by
    the engine split by that segment (shown to one decimal, as the page always did)."""
    from kpi.analyses import terms

    page = terms.terms_by_segment(store, H1_SCOPE, segment)
    want = _cli(store, "days_to_pay", segment)
    assert page.height == len(want) > 0
    for value, days in page.select("segment", "days_to_pay").rows():
        expected = want[value]
        assert days == (None if expected is None else round(expected, 1)), value
