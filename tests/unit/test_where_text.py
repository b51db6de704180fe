"""The sidebar's filters as filter texts (kpi.semantic.where_text): one quoted literal per
value whatever it holds, accepted by the formula guard, only the filters a KPI's view
honours, and read back into words."""

from __future__ import annotations

import pytest

from kpi.core.settings import Settings, load_settings
from kpi.semantic.definitions import load_definitions
from kpi.semantic.formula_guard import guard_filter
from kpi.semantic.where_text import filter_text, kpi_where, where_filters, where_texts
from kpi.store.views import view_catalog


def test_one_value_is_an_equality_and_several_an_in_list():
    assert filter_text("category", ["IT"]) == "category = 'IT'"
    assert filter_text("cost_centre", ["CC2", "CC1", "CC2"]) == "cost_centre IN ('CC1', 'CC2')"


@pytest.mark.parametrize(
    "hostile",
    [
        "IT' OR 1=1 --",
        "x'); DROP TABLE invoices; --",
        "O'Brien & Söhne",
        "back\\slash",
        "'",
    ],
)
def test_a_value_stays_one_literal_whatever_it_holds(hostile):
    text = filter_text("category", [hostile])
    columns = view_catalog(Settings())["spend"]
    tree = guard_filter(text, columns, view="spend")  # the guard accepts it as one predicate
    assert tree.expression.this == hostile  # and the literal holds the value, quotes and all
    assert where_filters([text]) == ({"category": [hostile]}, [])


def test_a_column_name_must_be_plain():
    with pytest.raises(ValueError, match="not a column name"):
        filter_text("category; drop", ["IT"])
    with pytest.raises(ValueError, match="has no value"):
        filter_text("category", [])


def test_only_the_view_s_columns_become_texts_the_rest_are_named():
    chosen = {"category": ["IT"], "cost_centre": [], "supplier_size": ["sme"]}
    where = where_texts(chosen, ["category", "amount"])
    assert where.texts == ("category = 'IT'",)
    assert where.ignored == ("supplier_size",)  # an empty choice is no filter at all


def test_a_kpi_gets_the_filters_its_view_honours():
    settings = load_settings()
    kpis = {k.id: k for k in load_definitions(None, settings)}
    chosen = {"category": ["IT", "Energy"], "cost_centre": ["CC1"]}
    spend = kpi_where(kpis["total_spend"], chosen, settings)
    assert spend.texts == ("category IN ('Energy', 'IT')", "cost_centre = 'CC1'")
    assert spend.ignored == ()
    # inventory has no cost centre: the engine leaves that filter out, so do its rows
    stock = kpi_where(kpis["excess_inventory_value"], chosen, settings)
    assert stock.texts == ("category IN ('Energy', 'IT')",)
    assert stock.ignored == ("cost_centre",)


def test_other_texts_are_kept_as_written():
    chosen, rest = where_filters(["category IN ('A', 'B')", "amount > 100", "supplier_id = 7"])
    assert chosen == {"category": ["A", "B"]}
    assert rest == ["amount > 100", "supplier_id = 7"]
