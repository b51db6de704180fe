"""Fixtures shared by tests/unit modules (the suite's own are in tests/conftest.py).

`store` is the smallest store a test of the store layer writes to: one exchange rate, in
the test's own folder. A module that needs another store defines its own `store` fixture,
which takes precedence over this one."""

from __future__ import annotations

import pytest

from kpi.store.database import Store


@pytest.fixture()
def store(tmp_path) -> Store:
    s = Store(tmp_path / "kpi.duckdb")
    with s.write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-01-01', 'USD', 0.9)")
    return s
