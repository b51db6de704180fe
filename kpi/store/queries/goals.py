"""The SQL of the quarterly goals: spend by category, the price outlook, proposals, decisions.

Part of the SQL layer (kpi/store/views.py holds the curated view read here: `spend`). Every
statement is a constant; values are bound parameters (`$name`), and an optional filter is
a list parameter that is NULL when it is not used, so nothing a person typed is ever
spliced into a statement. The tables written here are made by kpi.store.schema.BOOKKEEPING_DDL.
"""

from __future__ import annotations

# a store built before these tables existed gets them on its next write; reads check first

# ---- spend and the price outlook ------------------------------------------------------------

SPEND_BY_CATEGORY = """
SELECT coalesce(category, '(no category)') AS category, sum(amount) AS spend
FROM spend
WHERE invoice_date BETWEEN $start AND $end
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY ALL
"""

OUTLOOK_FOR_QUARTER = """
SELECT category, CAST(expected_change_pct AS DOUBLE) AS expected_change_pct, note
FROM price_outlook
WHERE quarter = $quarter AND ($category::VARCHAR[] IS NULL
                              OR list_contains($category::VARCHAR[], category))
"""

GET_OUTLOOK = """
SELECT expected_change_pct, note FROM price_outlook
WHERE quarter = $quarter AND category = $category
LIMIT 1
"""

DELETE_OUTLOOK = "DELETE FROM price_outlook WHERE quarter = $quarter AND category = $category"

# an outlook entered on the Goals page came from no file (kpi.store.schema.ENTERED_IN_APP)
INSERT_OUTLOOK = """
INSERT INTO price_outlook (quarter, category, expected_change_pct, note, source_file)
VALUES ($quarter, $category, $expected_change_pct, $note, 'entered in the app')
"""

NEXT_OUTLOOK_CHANGE = "SELECT coalesce(max(change_id), 0) + 1 FROM outlook_changes"

INSERT_OUTLOOK_CHANGE = """
INSERT INTO outlook_changes (change_id, quarter, category, changed_at, changed_by,
    changed_by_name, old_change_pct, new_change_pct, old_note, new_note)
VALUES ($change_id, $quarter, $category, $changed_at, $changed_by, $changed_by_name,
    $old_change_pct, $new_change_pct, $old_note, $new_note)
"""

OUTLOOK_CHANGES = """
SELECT changed_at, quarter, category, changed_by, changed_by_name,
       CAST(old_change_pct AS DOUBLE) AS old_change_pct,
       CAST(new_change_pct AS DOUBLE) AS new_change_pct, old_note, new_note
FROM outlook_changes
WHERE ($quarter::VARCHAR IS NULL OR quarter = $quarter::VARCHAR)
ORDER BY changed_at DESC, change_id DESC
"""

# ---- proposals -----------------------------------------------------------------------------

NEXT_PROPOSAL = "SELECT coalesce(max(proposal_id), 0) + 1 FROM target_proposals"

INSERT_PROPOSAL = """
INSERT INTO target_proposals (proposal_id, quarter, kpi_id, department, value, rationale,
    proposed_by, proposer_name, proposed_at)
VALUES ($proposal_id, $quarter, $kpi_id, $department, $value, $rationale,
    $proposed_by, $proposer_name, $proposed_at)
"""

# the latest proposal of each department per KPI, side by side; `revisions` counts them all
PROPOSALS_SIDE_BY_SIDE = """
WITH mine AS (
    SELECT * FROM target_proposals WHERE quarter = $quarter
), latest AS (
    SELECT * FROM mine
    QUALIFY row_number() OVER (PARTITION BY kpi_id, department
                               ORDER BY proposed_at DESC, proposal_id DESC) = 1
), kpis AS (
    SELECT kpi_id, count(*) AS revisions FROM mine GROUP BY kpi_id
)
SELECT k.kpi_id AS kpi,
       f.value AS finance_value, f.rationale AS finance_rationale,
       f.proposed_by AS finance_by, f.proposer_name AS finance_name,
       f.proposed_at AS finance_at,
       p.value AS procurement_value, p.rationale AS procurement_rationale,
       p.proposed_by AS procurement_by, p.proposer_name AS procurement_name,
       p.proposed_at AS procurement_at,
       p.value - f.value AS gap,
       k.revisions
FROM kpis k
LEFT JOIN latest f ON f.kpi_id = k.kpi_id AND f.department = 'finance'
LEFT JOIN latest p ON p.kpi_id = k.kpi_id AND p.department = 'procurement'
ORDER BY k.kpi_id
"""

PROPOSAL_HISTORY = """
SELECT proposed_at, quarter, kpi_id AS kpi, department, value, rationale, proposed_by,
       proposer_name
FROM target_proposals
WHERE quarter = $quarter AND ($kpi_id::VARCHAR IS NULL OR kpi_id = $kpi_id::VARCHAR)
ORDER BY proposed_at DESC, proposal_id DESC
"""

# ---- decisions ---------------------------------------------------------------------------------

NEXT_DECISION = "SELECT coalesce(max(decision_id), 0) + 1 FROM goal_decisions"

INSERT_DECISION = """
INSERT INTO goal_decisions (decision_id, quarter, kpi_id, value, rationale, finance_by,
    finance_name, procurement_by, procurement_name, decided_at, kpis_version)
VALUES ($decision_id, $quarter, $kpi_id, $value, $rationale, $finance_by, $finance_name,
    $procurement_by, $procurement_name, $decided_at, $kpis_version)
"""

DECISIONS = """
SELECT decided_at, quarter, kpi_id AS kpi, value, rationale, finance_by, finance_name,
       procurement_by, procurement_name, kpis_version
FROM goal_decisions
WHERE ($quarter::VARCHAR IS NULL OR quarter = $quarter::VARCHAR)
ORDER BY decided_at DESC, decision_id DESC
"""
