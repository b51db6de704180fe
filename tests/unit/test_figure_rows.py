"""A page's picked row or box → the KPI, period and filter texts of the rows behind it
(kpi.reporting.figure_rows): the same period and slice the page computes the figure over."""

from __future__ import annotations

from datetime import date

import pytest

from kpi.analyses.spend import BudgetYear
from kpi.core.scope import Scope
from kpi.core.settings import load_settings
from kpi.reporting import figure_rows as fr
from kpi.semantic.formula_guard import guard_filter
from kpi.store.views import view_catalog

CAL = load_settings().fiscal
Q1 = Scope.of(date(2026, 1, 1), date(2026, 3, 31), {"cost_centre": ["CC-104"]}, "EUR")
H1 = Scope.of(date(2026, 1, 1), date(2026, 6, 30), {"category": ["IT", "Travel"]}, "EUR")


def test_one_fiscal_period_reads_as_its_label_a_longer_range_as_a_range():
    assert fr.scope_period(Q1, CAL) == "FY2026-Q1"
    assert fr.scope_period(H1, CAL) == "2026-01-01..2026-06-30"
    one_month = Scope.of(date(2026, 2, 1), date(2026, 2, 28))
    assert fr.scope_period(one_month, CAL) == "2026-02"
    with pytest.raises(ValueError, match="choose a period range"):
        fr.scope_period(Scope.of(None, None), CAL)


def test_spend_row_keeps_the_sidebar_filters_and_adds_its_own_value():
    got = fr.spend_figure(H1, CAL, supplier="Acme")
    assert got == fr.FigureRows(
        "total_spend",
        "2026-01-01..2026-06-30",
        ("category IN ('IT', 'Travel')", "supplier = 'Acme'"),
    )
    # the drill-down's pick replaces the sidebar's choice of the same column
    got = fr.spend_figure(H1, CAL, category="IT", item_id="(no item)")
    assert got.where == ("category = 'IT'", "item_id IS NULL")


def test_a_placeholder_or_none_is_the_views_null_and_a_quote_stays_inside_its_literal():
    assert fr.value_text("cost_centre", "(no cost centre)") == "cost_centre IS NULL"
    assert fr.value_text("country", None) == "country IS NULL"
    hostile = "O'Brien'); DROP TABLE invoices; --"
    text = fr.value_text("supplier", hostile)
    assert text == "supplier = 'O''Brien''); DROP TABLE invoices; --'"
    # the guard the dialog applies reads it as one comparison on the spend view
    guard_filter(text, view_catalog(load_settings())["spend"], view="spend")


def test_budget_line_gives_utilisation_to_date_and_committed_over_the_year():
    year = BudgetYear("FY2026", date(2026, 1, 1), date(2026, 12, 31), date(2026, 5, 12), 12, 5)
    got = fr.budget_figures(year, "cost_centre", "CC-101", H1, CAL)
    where = ("category IN ('IT', 'Travel')", "cost_centre = 'CC-101'")
    assert got == [
        fr.FigureRows("budget_utilisation", "2026-01-01..2026-05-31", where),
        fr.FigureRows("committed_budget_utilisation", "FY2026", where),
    ]
    # no month of the year has data yet: nothing is used to date, only the commitment
    empty = BudgetYear("FY2027", date(2027, 1, 1), date(2027, 12, 31), date(2026, 5, 12), 12, 0)
    got = fr.budget_figures(empty, "category", "(no category)", Q1, CAL)
    assert [(f.kpi, f.where) for f in got] == [
        ("committed_budget_utilisation", ("cost_centre = 'CC-104'", "category IS NULL"))
    ]


def test_supplier_spend_is_by_id_its_kpis_by_the_name_the_engine_splits_on():
    spend = fr.supplier_figure("spend", "S-001", "Acme", Q1, CAL)
    assert spend == fr.FigureRows(
        "total_spend", "FY2026-Q1", ("cost_centre = 'CC-104'", "supplier_id = 'S-001'")
    )
    otd = fr.supplier_figure("on_time_delivery", "S-001", "Acme", Q1, CAL)
    assert (otd.kpi, otd.where[-1]) == ("supplier_otd", "supplier = 'Acme'")
    assert fr.supplier_figure("avg_days_to_pay", "S-001", "Acme", Q1, CAL).kpi == "days_to_pay"


def test_initiative_keeps_only_the_cost_centre_filter_which_picks_its_lines():
    scope = Scope.of(
        date(2026, 1, 1), date(2026, 3, 31), {"category": ["IT"], "cost_centre": ["CC-1"]}
    )
    got = fr.initiative_figure("SI-0007", scope, CAL)
    assert got == fr.FigureRows(
        "savings_realised",
        "FY2026-Q1",
        ("cost_centre = 'CC-1'", "initiative_id = 'SI-0007'", "NOT invoice_id IS NULL"),
    )


def test_terms_segment_and_inventory_class():
    got = fr.terms_segment_figure("supplier_size", "sme", H1, CAL)
    assert got.kpi == "days_to_pay"
    assert got.where == ("category IN ('IT', 'Travel')", "supplier_size = 'sme'")
    assert fr.terms_segment_figure("preferred", True, Q1, CAL).where[-1] == "preferred = 'true'"
    got = fr.inventory_class_figure("excess", date(2026, 6, 30), H1, CAL)
    assert got == fr.FigureRows(
        "excess_inventory_value", "2026-06", ("category IN ('IT', 'Travel')",)
    )
    with pytest.raises(ValueError, match="no KPI defines the cycle stock"):
        fr.inventory_class_figure("cycle", date(2026, 6, 30), H1, CAL)


def test_a_terms_box_is_its_kpi_over_the_range_and_the_sidebar_filters():
    got = fr.terms_figure("late_payment_rate_sme", H1, CAL)
    assert got == fr.FigureRows(
        "late_payment_rate_sme", "2026-01-01..2026-06-30", ("category IN ('IT', 'Travel')",)
    )
