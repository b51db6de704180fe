"""The SQL of the inbox: targets the meeting agreed that still wait for signatures, and when
each pending savings initiative started waiting for finance.

Every statement is a constant; values are bound parameters (`$name`). Reads check first that
the bookkeeping tables exist (a store built before them reads as having nothing waiting).
"""

from __future__ import annotations

# The targets the goals meeting agreed on: both departments' latest proposals for a KPI and
# quarter name the same value, and no decision row records that value yet.
AGREED_PROPOSALS = """
WITH latest AS (
    SELECT * FROM target_proposals
    QUALIFY row_number() OVER (PARTITION BY quarter, kpi_id, department
                               ORDER BY proposed_at DESC, proposal_id DESC) = 1
)
SELECT f.quarter, f.kpi_id, f.value, greatest(f.proposed_at, p.proposed_at) AS agreed_at,
       f.proposer_name AS finance_name, p.proposer_name AS procurement_name
FROM latest f
JOIN latest p ON p.quarter = f.quarter AND p.kpi_id = f.kpi_id
             AND p.department = 'procurement'
WHERE f.department = 'finance' AND f.value = p.value
ORDER BY f.quarter, f.kpi_id
"""

DECIDED = "SELECT quarter, kpi_id, value FROM goal_decisions"

# When each initiative last changed (created, edited, sent back to pending): since when a
# pending one waits for finance's verdict.
LAST_CHANGED = """
SELECT initiative_id, max(changed_at) AS changed_at
FROM initiative_changes
GROUP BY initiative_id
"""
