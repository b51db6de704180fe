"""The SQL of payment-terms proposals: their tables, versions, answers, signatures, audit.

Part of the SQL layer (kpi.workflows.terms_proposals writes and reads through it). Every
statement is a constant with bound parameters (`$name`). The tables are company records:
made by this DDL (`CREATE TABLE IF NOT EXISTS`), which kpi.store.schema.COMPANY_RECORDS
names, so a store's set-up runs it before every write; never by a load, so reloading data,
`--force` and rebuilding views leave them alone.
"""

from __future__ import annotations

DDL = """
-- a proposal: who made it from which saved scenario, and where it stands; times are UTC
CREATE TABLE IF NOT EXISTS terms_proposals (
    proposal_id BIGINT NOT NULL,
    title VARCHAR NOT NULL,
    scenario_id BIGINT,
    scenario_name VARCHAR,
    currency VARCHAR NOT NULL,
    window_start DATE,
    window_end DATE,
    status VARCHAR NOT NULL,          -- open, agreed, refused, withdrawn
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR NOT NULL,
    created_by_name VARCHAR,
    closed_at TIMESTAMP,
    closed_by VARCHAR,
    closed_by_name VARCHAR,
    closed_reason VARCHAR,
    agreed_version INTEGER
);
-- every version: any change (an answer, a revision) makes the next one
CREATE TABLE IF NOT EXISTS terms_proposal_versions (
    proposal_id BIGINT NOT NULL,
    version INTEGER NOT NULL,
    effective_from DATE NOT NULL,     -- the first day the new terms apply (tracking starts)
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR NOT NULL,
    created_by_name VARCHAR,
    change VARCHAR NOT NULL,          -- proposed, answered, revised
    reason VARCHAR NOT NULL
);
-- one row per supplier and version: finance's terms and first view, procurement's answer
CREATE TABLE IF NOT EXISTS terms_proposal_lines (
    proposal_id BIGINT NOT NULL,
    version INTEGER NOT NULL,
    supplier_id VARCHAR NOT NULL,
    supplier_name VARCHAR,
    payment_terms_days INTEGER,
    today_days DECIMAL(9,1),
    proposed_days INTEGER NOT NULL,
    annual_spend DECIMAL(18,2),
    cash_released DECIMAL(18,2),
    annual_financing_benefit DECIMAL(18,2),
    discounts_forgone DECIMAL(18,2),
    supplier_price_passthrough DECIMAL(18,2),
    net_benefit DECIMAL(18,2),
    answer VARCHAR,                   -- accept, counter, refuse; NULL: not answered yet
    counter_days INTEGER,
    passthrough_pct DECIMAL(9,4),
    relationship_risk VARCHAR,        -- low, medium, high
    answer_reason VARCHAR,
    answered_by VARCHAR,
    answered_by_name VARCHAR,
    answered_at TIMESTAMP
);
-- signatures: one per department and version; a new version voids the earlier ones
CREATE TABLE IF NOT EXISTS terms_proposal_signatures (
    proposal_id BIGINT NOT NULL,
    version INTEGER NOT NULL,
    department VARCHAR NOT NULL,
    signed_by VARCHAR NOT NULL,
    signed_by_name VARCHAR,
    signed_at TIMESTAMP NOT NULL,
    reason VARCHAR NOT NULL,
    voided_at TIMESTAMP,
    voided_by VARCHAR,
    void_reason VARCHAR
);
-- the audit log: every write, who, when, why
CREATE TABLE IF NOT EXISTS terms_proposal_events (
    event_id BIGINT NOT NULL,
    proposal_id BIGINT NOT NULL,
    version INTEGER,
    event_at TIMESTAMP NOT NULL,
    by_email VARCHAR NOT NULL,
    by_name VARCHAR,
    action VARCHAR NOT NULL,
    supplier_id VARCHAR,
    detail VARCHAR,
    reason VARCHAR
);
"""

# a table, or on a lake a view over its files (kpi.store.lake)

SCENARIO = """
SELECT scenario_id, name, new_terms_days, where_text, currency, detail
FROM terms_scenarios WHERE scenario_id = $scenario_id
"""

NEXT_PROPOSAL = "SELECT coalesce(max(proposal_id), 0) + 1 FROM terms_proposals"
NEXT_EVENT = "SELECT coalesce(max(event_id), 0) + 1 FROM terms_proposal_events"

INSERT_PROPOSAL = """
INSERT INTO terms_proposals (proposal_id, title, scenario_id, scenario_name, currency,
    window_start, window_end, status, created_at, created_by, created_by_name)
VALUES ($proposal_id, $title, $scenario_id, $scenario_name, $currency, $window_start,
    $window_end, 'open', $created_at, $created_by, $created_by_name)
"""

INSERT_VERSION = """
INSERT INTO terms_proposal_versions (proposal_id, version, effective_from, created_at,
    created_by, created_by_name, change, reason)
VALUES ($proposal_id, $version, $effective_from, $created_at, $created_by, $created_by_name,
    $change, $reason)
"""

LINE_COLUMNS = (
    "proposal_id",
    "version",
    "supplier_id",
    "supplier_name",
    "payment_terms_days",
    "today_days",
    "proposed_days",
    "annual_spend",
    "cash_released",
    "annual_financing_benefit",
    "discounts_forgone",
    "supplier_price_passthrough",
    "net_benefit",
    "answer",
    "counter_days",
    "passthrough_pct",
    "relationship_risk",
    "answer_reason",
    "answered_by",
    "answered_by_name",
    "answered_at",
)

INSERT_LINE = """
INSERT INTO terms_proposal_lines (proposal_id, version, supplier_id, supplier_name,
    payment_terms_days, today_days, proposed_days, annual_spend, cash_released,
    annual_financing_benefit, discounts_forgone, supplier_price_passthrough, net_benefit,
    answer, counter_days, passthrough_pct, relationship_risk, answer_reason, answered_by,
    answered_by_name, answered_at)
VALUES ($proposal_id, $version, $supplier_id, $supplier_name, $payment_terms_days,
    $today_days, $proposed_days, $annual_spend, $cash_released, $annual_financing_benefit,
    $discounts_forgone, $supplier_price_passthrough, $net_benefit, $answer, $counter_days,
    $passthrough_pct, $relationship_risk, $answer_reason, $answered_by, $answered_by_name,
    $answered_at)
"""

INSERT_SIGNATURE = """
INSERT INTO terms_proposal_signatures (proposal_id, version, department, signed_by,
    signed_by_name, signed_at, reason)
VALUES ($proposal_id, $version, $department, $signed_by, $signed_by_name, $signed_at, $reason)
"""

# a new version voids every signature still standing on the earlier ones
VOID_SIGNATURES = """
UPDATE terms_proposal_signatures
SET voided_at = $at, voided_by = $by, void_reason = $reason
WHERE proposal_id = $proposal_id AND version < $version AND voided_at IS NULL
"""

INSERT_EVENT = """
INSERT INTO terms_proposal_events (event_id, proposal_id, version, event_at, by_email, by_name,
    action, supplier_id, detail, reason)
VALUES ($event_id, $proposal_id, $version, $at, $by_email, $by_name, $action, $supplier_id,
    $detail, $reason)
"""

CLOSE_PROPOSAL = """
UPDATE terms_proposals
SET status = $status, closed_at = $at, closed_by = $by, closed_by_name = $by_name,
    closed_reason = $reason, agreed_version = $agreed_version
WHERE proposal_id = $proposal_id
"""

PROPOSAL = "SELECT * FROM terms_proposals WHERE proposal_id = $proposal_id"
PROPOSALS = "SELECT * FROM terms_proposals ORDER BY proposal_id DESC"
OPEN_PROPOSALS = "SELECT * FROM terms_proposals WHERE status = 'open' ORDER BY proposal_id"
VERSIONS = """
SELECT * FROM terms_proposal_versions WHERE proposal_id = $proposal_id ORDER BY version
"""
LINES = """
SELECT * FROM terms_proposal_lines
WHERE proposal_id = $proposal_id AND version = $version
ORDER BY cash_released DESC, supplier_id
"""
SIGNATURES = """
SELECT * FROM terms_proposal_signatures WHERE proposal_id = $proposal_id
ORDER BY version, signed_at
"""
EVENTS = """
SELECT event_at AS at, version, by_email, by_name, action, supplier_id, detail, reason
FROM terms_proposal_events WHERE proposal_id = $proposal_id ORDER BY event_id
"""

# Prices against the plan: per agreed supplier and month (by invoice date) from the day the
# terms apply, what was paid for its items against what the same quantities cost at the
# item's quantity-weighted mean price in the proposal's spend year (same currency).
PRICE_CHANGE_BY_MONTH = """
WITH base AS (
    SELECT supplier_id, item_id, source_currency,
           sum(unit_price * quantity) / nullif(sum(quantity), 0) AS base_price
    FROM spend
    WHERE invoice_date BETWEEN $window_start AND $window_end
      AND list_contains($supplier_ids::VARCHAR[], supplier_id)
      AND item_id IS NOT NULL AND quantity > 0 AND unit_price IS NOT NULL
    GROUP BY ALL
)
SELECT s.supplier_id, strftime(s.invoice_date, '%Y-%m') AS period,
       sum(s.amount) AS spend,
       CAST(sum(s.unit_price * s.quantity) AS DOUBLE)
           / nullif(CAST(sum(b.base_price * s.quantity) AS DOUBLE), 0) - 1 AS price_change
FROM spend s
JOIN base b ON b.supplier_id = s.supplier_id AND b.item_id = s.item_id
    AND b.source_currency = s.source_currency
WHERE s.invoice_date >= $effective_from AND s.quantity > 0 AND s.unit_price IS NOT NULL
  AND list_contains($supplier_ids::VARCHAR[], s.supplier_id)
GROUP BY ALL
ORDER BY 1, 2
"""
