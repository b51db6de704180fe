"""The table of saved payment-terms scenarios (kpi.analyses.terms saves and lists them).

A company record: kpi.store.schema.COMPANY_RECORDS names it with this DDL, so a store's
set-up makes it on every write and a backup keeps it; loads, `--force` and view rebuilds
never touch it. Money is exact (DECIMAL); saved_at is UTC.
"""

from __future__ import annotations

SCENARIOS_DDL = """
CREATE TABLE IF NOT EXISTS terms_scenarios (
    scenario_id BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    saved_at TIMESTAMP NOT NULL,
    saved_by VARCHAR NOT NULL,
    saved_by_name VARCHAR,
    new_terms_days INTEGER NOT NULL,
    where_text VARCHAR,
    currency VARCHAR NOT NULL,
    suppliers_affected INTEGER NOT NULL,
    annual_spend DECIMAL(18,2),
    cash_released DECIMAL(18,2),
    annual_financing_benefit DECIMAL(18,2),
    discounts_forgone DECIMAL(18,2),
    supplier_price_passthrough DECIMAL(18,2),
    net_benefit DECIMAL(18,2),
    suppliers_at_risk INTEGER NOT NULL,
    detail VARCHAR NOT NULL
);
"""
