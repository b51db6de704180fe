"""The formula guard: hostile formulas and filters refused with a clear reason, good ones
accepted and proven to run on the curated views."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from kpi.core.settings import load_settings
from kpi.semantic.compiler import Measure, kpi_query
from kpi.semantic.definitions import load_definitions
from kpi.semantic.formula_allowlist import ALLOWED_FUNCTIONS
from kpi.semantic.formula_guard import (
    MAX_LENGTH,
    FormulaError,
    guard_filter,
    guard_formula,
)
from kpi.store.schema import all_ddl
from kpi.store.views import create_views, view_catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = view_catalog(load_settings())
SPEND = CATALOG["spend"]

# (formula, a fragment the refusal must contain). All against the `spend` view.
HOSTILE: list[tuple[str, str]] = [
    # file access and table functions
    ("read_csv('/etc/passwd')", "function read_csv() at character 1 is not allowed"),
    ("sum(amount) + read_csv('x')", "function read_csv()"),
    ("read_parquet('s3://bucket/x.parquet')", "function read_parquet()"),
    ("read_json('x.json')", "function read_json()"),
    ("read_text('/etc/hosts')", "function read_text()"),
    ("read_blob('/etc/hosts')", "function read_blob()"),
    ("glob('/home/*')", "function glob()"),
    ("sum(amount) filter (where getenv('HOME') = 'x')", "function getenv()"),
    ("current_setting('threads')", "function current_setting()"),
    ("range(1e12)", "function range()"),
    ("generate_series(1, 1000000000000)", "function generate_series()"),
    ("query('select 1')", "function query()"),
    ("query_table('invoices')", "function query_table()"),
    ("sum(amount) + my_macro(amount)", "function my_macro()"),
    ("sum(amount) + columns('a')", "function columns()"),
    # statements instead of an expression
    ("ATTACH 'other.duckdb' AS o", "ATTACH is a SQL statement"),
    ("COPY spend TO 'leak.csv'", "COPY is a SQL statement"),
    ("PRAGMA database_list", "PRAGMA is a SQL statement"),
    ("SET enable_external_access = true", "SET is a SQL statement"),
    ("INSTALL httpfs", "INSTALL is a SQL statement"),
    ("LOAD httpfs", "LOAD is a SQL statement"),
    ("DROP TABLE invoices", "DROP is a SQL statement"),
    ("CREATE TABLE x AS SELECT 1", "CREATE is a SQL statement"),
    ("select sum(amount) from invoices", "SELECT is a SQL statement"),
    (
        "with recursive t(n) as (select 1 union all select n + 1 from t) select * from t",
        "WITH ... SELECT is a SQL statement",
    ),
    # stacked statements and comments
    ("sum(amount); drop table x", "';' at character 12 is not allowed"),
    ("sum(amount); drop table x", "DROP is a SQL statement"),
    ("sum(amount);", "';' at character 12 is not allowed"),
    ("sum(amount) /* */; ATTACH 'x.db'", "comments ('--', '/* */') are not allowed"),
    ("sum(amount) /* */; ATTACH 'x.db'", "ATTACH is a SQL statement"),
    ("sum(amount) -- harmless?", "comments ('--', '/* */') are not allowed"),
    ("sum(amount) --\n; ATTACH 'x.db'", "comments"),
    ("/* nothing but a comment */", "comments"),
    ("sum(amount) /* never closed", "cannot read the formula"),
    # subqueries
    ("sum(amount) / (select 1)", "a subquery at character"),
    ("exists(select 1 from invoices)", "a subquery"),
    ("sum(amount) filter (where supplier in (select supplier_id from suppliers))", "subquery"),
    ("sum(amount) filter (where exists (select 1))", "a subquery"),
    # unicode look-alikes and invisible characters
    ("s\u0435lect 1", "character 'е' (U+0435) at character 2 is not allowed"),
    ("sum(\u0430mount)", "(U+0430)"),  # Cyrillic a
    ("sum(\uff41mount)", "(U+FF41)"),  # fullwidth a
    ("sum(amount)\u00a0+ 1", "(U+00A0)"),  # no-break space
    ("sum(amount)\u200b", "(U+200B)"),  # zero-width space
    ('sum("am\u043eunt")', "(U+043E)"),  # Cyrillic o in a quoted identifier
    ("sum(amount)\x00", "(U+0000)"),
    # columns
    ("sum(amont)", "unknown column 'amont' in view 'spend' at character 5 (did you mean 'amount'"),
    ("sum(invoices.amount)", "qualified column 'invoices.amount' at character 5 is not allowed"),
    ("sum(main.invoices.amount)", "qualified column"),
    ("count(invoices.*)", "not allowed"),
    # shapes that are not a plain aggregate expression
    ("sum(amount) over ()", "window functions (OVER ...)"),
    ("sum(amount) over (partition by supplier order by invoice_date)", "window functions"),
    ("list_transform([1, 2], x -> x + 1)", "function list_transform()"),
    ("sum(x -> x)", "lambda functions ('x -> ...') at character 5 are not allowed"),
    ("greatest(sum(amount), b -> b)", "lambda functions"),
    ("sum(amount) filter (where amount > ?)", "parameters ('?', '$name')"),
    ("sum(amount) filter (where amount > $limit)", "parameters"),
    ("sum(amount) as total", "aliases ('AS name')"),
    ("cast(sum(amount) as struct(a int))", "cast to STRUCT(a INT) at character 6 is not allowed"),
    ("count(distinct supplier, category)", "DISTINCT at character 16 takes exactly one expression"),
    ("sum(sum(amount))", "aggregate sum() at character 5 is inside another aggregate"),
    ("sum(amount) filter (where sum(amount) > 0)", "is inside another aggregate or its FILTER"),
    ("amount", "a KPI formula must aggregate its rows"),
    ("sum(amount) + amount", "column 'amount' at character 15 is outside an aggregate"),
    ("1 + 1", "a KPI formula must aggregate its rows"),
    ("sum(amount) filter (where country in ('DE', supplier))", "IN at character 27 takes a list"),
    ("count(*) + extract(hour from invoice_date)", "date part 'hour' at character 30"),
    ("avg(date_diff('second', invoice_date, paid_date))", "date part 'second'"),
    ("sum(amount) qualify 1", "not a valid expression"),
    ("", "the formula is empty"),
    # size
    ("sum(amount) + " * 200 + "1", f"the limit is {MAX_LENGTH:,}"),
    ("(" * 40 + "sum(amount)" + ")" * 40, "parentheses nest more than 20 deep"),
    (" or ".join(["preferred"] * 150), "nested 151 levels deep; the limit is 60"),
    ("count(*) filter (where invoice_line in (" + "1," * 700 + "1))", "parts; the limit is 600"),
]


@pytest.mark.parametrize(("formula", "fragment"), HOSTILE)
def test_hostile_formula_is_refused_with_a_reason(formula: str, fragment: str) -> None:
    with pytest.raises(FormulaError) as refused:
        guard_formula(formula, SPEND, view="spend")
    assert fragment in str(refused.value), refused.value.problems
    assert refused.value.problems and all(isinstance(p, str) for p in refused.value.problems)


def test_every_duckdb_function_off_the_allow_list_is_refused() -> None:
    """Not only the functions listed above: every function this DuckDB offers (table
    functions such as read_csv included) that is not on the allow-list is refused."""
    con = duckdb.connect(":memory:")
    try:
        rows = con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    finally:
        con.close()
    names = sorted(
        name
        for (name,) in rows
        if name.replace("_", "").isalnum() and name.lower() not in ALLOWED_FUNCTIONS
    )
    assert {"read_csv", "read_text", "glob", "query"} <= set(names)  # DuckDB's list, not ours
    accepted = []
    for name in names:
        try:
            guard_formula(f"sum(amount) + {name}(amount)", SPEND, view="spend")
        except FormulaError:
            continue
        accepted.append(name)
    assert accepted == []


def test_every_problem_is_reported_not_only_the_first() -> None:
    with pytest.raises(FormulaError) as refused:
        guard_formula("sum(amnt) + avg(days) + read_csv('x')", SPEND, view="spend")
    text = str(refused.value)
    assert "function read_csv()" in text
    # column names are checked too, although the shape is already wrong
    assert "unknown column 'amnt'" in text and "unknown column 'days'" in text
    assert len(refused.value.problems) == 3


# (view, period column, formula): every style the shipped KPIs use, and the allow-list's breadth.
GOOD: list[tuple[str, str, str]] = [
    ("spend", "invoice_date", "sum(amount)"),
    (
        "spend",
        "invoice_date",
        "sum(amount) filter (where preferred or on_contract) / nullif(sum(amount), 0)",
    ),
    (
        "payments",
        "paid_date",
        "sum(amount * days_to_pay) filter (where is_paid)"
        " / nullif(sum(amount) filter (where is_paid), 0)",
    ),
    (
        "po_lines",
        "promised_date",
        "count(*) filter (where on_time) / nullif(count(*) filter (where received), 0)",
    ),
    (
        "inventory_position",
        "snapshot_date",
        "sum(excess_value) / nullif(count(distinct snapshot_date), 0)",
    ),
    ("spend", "invoice_date", "sum(amount) filter (where not has_po) / nullif(sum(amount), 0)"),
    ("spend", "invoice_date", "count(distinct supplier)"),
    ("payments", "paid_date", "median(days_to_pay)"),
    ("payments", "paid_date", "quantile_cont(days_to_pay, 0.9)"),
    ("payments", "paid_date", "avg(date_diff('day', invoice_date, paid_date))"),
    ("payments", "paid_date", "avg(datediff('day', invoice_date, paid_date))"),
    ("payments", "invoice_date", "sum(discount_captured) / nullif(sum(discount_available), 0)"),
    ("payments", "invoice_date", "count(*) filter (where paid_late and supplier_size = 'sme')"),
    (
        "spend",
        "invoice_date",
        "sum(case when supplier_size = 'sme' then amount else 0 end) / nullif(sum(amount), 0)",
    ),
    ("spend", "invoice_date", "round(sum(amount) / 1000, 1)"),
    ("spend", "invoice_date", "cast(count(*) as double) / nullif(count(distinct item_id), 0)"),
    ("spend", "invoice_date", "sum(coalesce(price_variance, 0))"),
    (
        "spend",
        "invoice_date",
        "sum(abs(price_variance)) filter (where contract_unit_price is not null)",
    ),
    (
        "spend",
        "invoice_date",
        "sum(amount) filter (where country in ('DE', 'FR') and invoice_date"
        " between DATE '2026-01-01' and DATE '2026-12-31')",
    ),
    ("spend", "invoice_date", "greatest(max(amount), 0) - least(min(amount), 0)"),
    ("spend", "invoice_date", "bool_and(preferred)::int + bool_or(on_contract)::int"),
    ("spend", "invoice_date", "stddev(amount) / nullif(avg(amount), 0)"),
    ("spend", "invoice_date", "count(*) filter (where extract(year from invoice_date) = 2026)"),
    (
        "spend",
        "invoice_date",
        "count(*) filter (where quarter(invoice_date) = 1 and month(invoice_date) < 3)",
    ),
    ("spend", "invoice_date", "count(*) filter (where year(paid_date) = year(invoice_date))"),
    (
        "spend",
        "invoice_date",
        "sum(amount) filter (where supplier ilike '%gmbh%' or country is null)",
    ),
    ("spend", "invoice_date", "SUM(Amount)"),
    ("spend", "invoice_date", "sum(amount) filter (where supplier = 'Müller & Söhne')"),
    ("savings_lines", "invoice_date", "sum(price_saving) filter (where accepted)"),
    ("budget_vs_actual", "month_start", "sum(actual_amount) / nullif(sum(budget_amount), 0)"),
    ("spend_yoy", "period_date", "sum(current_amount) - sum(prior_amount)"),
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(all_ddl())
    create_views(con, load_settings())
    yield con
    con.close()


@pytest.mark.parametrize(("view", "period", "formula"), GOOD)
def test_good_formula_is_accepted_and_runs(
    view: str, period: str, formula: str, con: duckdb.DuckDBPyConnection
) -> None:
    tree = guard_formula(formula, CATALOG[view], view=view)
    assert isinstance(tree, exp.Expression)
    settings_ = load_settings()
    sql, params = kpi_query(
        view, period, [Measure("k", tree)], "quarter", settings_.fiscal, [], None, None, {}
    )
    con.execute(sql, params).fetchall()  # an empty store: it must run, not return rows


def test_good_formula_runs_grouped_by_a_dimension(con: duckdb.DuckDBPyConnection) -> None:
    tree = guard_formula("sum(amount) filter (where preferred)", SPEND, view="spend")
    sql, params = kpi_query(
        "spend",
        "invoice_date",
        [Measure("k", tree)],
        "month",
        load_settings().fiscal,
        ["category"],
        None,
        None,
        {"country": ["DE"]},
    )
    assert con.execute(sql, params).fetchall() == []


def test_every_shipped_formula_is_accepted_and_runs(con: duckdb.DuckDBPyConnection) -> None:
    """The formulas of config/kpis.yaml, not only the styles listed above, pass the guard
    against their own view and run on the curated views."""
    definitions = load_definitions(ROOT / "config" / "kpis.yaml")
    assert definitions
    fiscal = load_settings().fiscal
    for kpi in definitions:
        tree = guard_formula(kpi.formula, CATALOG[kpi.source], view=kpi.source)
        measure = [Measure(kpi.id, tree)]
        sql, params = kpi_query(
            kpi.source, kpi.period_by, measure, "quarter", fiscal, [], None, None, {}
        )
        assert con.execute(sql, params).fetchall() == [], kpi.id  # an empty store, no rows


def test_column_names_come_back_as_the_view_spells_them() -> None:
    assert guard_formula("SUM(Amount)", SPEND).sql("duckdb") == "SUM(amount)"


def test_guarded_tree_renders_strings_escaped() -> None:
    tree = guard_formula("sum(amount) filter (where supplier = 'O''Brien; drop')", SPEND)
    assert "'O''Brien; drop'" in tree.sql("duckdb")


def test_require_aggregate_can_be_turned_off() -> None:
    tree = guard_formula("amount * 2", SPEND, require_aggregate=False)
    assert tree.sql("duckdb") == "amount * 2"


def test_unknown_view_still_checks_everything_but_names() -> None:
    with pytest.raises(FormulaError) as refused:
        guard_formula("sum(whatever); ATTACH 'x'", None)
    assert "unknown column" not in str(refused.value)
    assert "ATTACH is a SQL statement" in str(refused.value)
    assert guard_formula("sum(whatever)", None).sql("duckdb") == "SUM(whatever)"


def test_multi_line_formula_gives_line_and_character() -> None:
    with pytest.raises(FormulaError, match="at line 2, character 3"):
        guard_formula("sum(amount)\n/ read_csv('x')", SPEND)


# ---- row filters ---------------------------------------------------------------------------

GOOD_FILTERS = [
    "country = 'DE' and supplier_size = 'sme'",
    "preferred",
    "not has_po or amount > 10000",
    "country in ('DE', 'FR') and invoice_date >= DATE '2026-01-01'",
    "supplier ilike 'acme%' and paid_date is not null",
]


@pytest.mark.parametrize("text", GOOD_FILTERS)
def test_good_filter_is_accepted(text: str, con: duckdb.DuckDBPyConnection) -> None:
    tree = guard_filter(text, SPEND, view="spend")
    query = exp.select("count(*)").from_("spend").where(tree)
    con.execute(query.sql("duckdb")).fetchall()


BAD_FILTERS = [
    ("sum(amount) > 0", "aggregates such as sum()"),
    ("amount", "a filter must be true or false for each row"),
    ("country = 'DE'; drop table invoices", "';' at character 15 is not allowed"),
    ("country = 'DE' -- and more", "comments"),
    ("country = getenv('X')", "function getenv()"),
    ("supplier in (select supplier_id from suppliers)", "subquery"),
    ("cuntry = 'DE'", "did you mean 'country'"),
    ("spend.country = 'DE'", "qualified column"),
    ("c\u043euntry = 'DE'", "(U+043E)"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_FILTERS)
def test_bad_filter_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(FormulaError) as refused:
        guard_filter(text, SPEND, view="spend")
    assert fragment in str(refused.value)


# ---- never anything but FormulaError -------------------------------------------------------

PIECES = [
    *"abcdefilmnorstuwxy_0123456789 ()*,;'\"-/+<>=.:\n$?[]{}|",
    *["sum", "select ", "from ", " filter ", "(where ", "amount", " over ", "case ", "\u0435"],
    *["\u00a0", " in ", "count(*)", "read_csv", "::", " as ", "distinct ", "--", "/*", "*/"],
]
SQLISH = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(SQLISH)
def test_any_text_is_either_a_tree_or_a_formula_error(text: str) -> None:
    try:
        tree = guard_formula(text, SPEND)
    except FormulaError as refused:
        assert refused.problems
        return
    # what passes is rendered from an allow-listed tree and touches only view columns
    assert {c.name for c in tree.find_all(exp.Column)} <= set(SPEND)
    assert not list(tree.find_all(exp.Query, exp.Subquery, exp.Window, exp.Anonymous))
