"""The query scope: equal when it means the same, refuses what a figure cannot honour."""

from __future__ import annotations

from datetime import date

import pytest

from kpi.core.scope import Scope, ScopeError, ignored_text

JAN, MAR = date(2026, 1, 1), date(2026, 3, 31)


def test_equal_scopes_hash_alike_whatever_the_order_or_empties():
    a = Scope.of(JAN, MAR, {"category": ["B", "A"], "cost_centre": []}, "EUR")
    b = Scope.of(JAN, MAR, {"category": ("A", "B", "A")}, "EUR")
    assert a == b and hash(a) == hash(b)
    assert a.filters == (("category", ("A", "B")),)
    assert Scope.of(JAN, MAR, {"category": "A"}).values("category") == ("A",)


def test_params_bind_every_honoured_filter_and_refuse_the_rest():
    s = Scope.of(JAN, MAR, {"category": ["A"]})
    assert s.params(("category", "cost_centre")) == {"category": ["A"], "cost_centre": None}
    with pytest.raises(ScopeError, match="cannot filter on category"):
        s.params(("cost_centre",))


def test_ignored_is_reported_and_only_keeps_the_honoured():
    s = Scope.of(JAN, MAR, {"category": ["A"], "cost_centre": ["CC-1"]}, "USD")
    assert s.ignored(("category",)) == ("cost_centre",)
    assert s.only(("category",)) == Scope.of(JAN, MAR, {"category": ["A"]}, "USD")
    assert ignored_text(["cost_centre"]) == "cost centre"
    assert ignored_text(["cost_centre", "category", "item_id"]) == "cost centre, category and item"


def test_narrowed_adds_and_clears_drill_down_picks():
    s = Scope.of(JAN, MAR, {"category": ["A"]})
    n = s.narrowed(supplier="Alpha")
    assert n.as_dict() == {"category": ["A"], "supplier": ["Alpha"]}
    assert n.narrowed(supplier=None) == s


def test_period_params_refuse_a_reversed_or_missing_range():
    assert Scope.of(JAN, MAR).period_params() == {"start": JAN, "end": MAR}
    with pytest.raises(ScopeError, match="ends"):
        Scope.of(MAR, JAN).period_params()
    with pytest.raises(ScopeError, match="period range"):
        Scope.of().period_params()
