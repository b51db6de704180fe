"""The SQL of the cost centres' reference table: their names, and the codes in use it lacks.

Constant statements; the cost_centres table may be empty (or, in a store written before it
existed, an empty stand-in from kpi.store.views), and then every code goes without a name.
"""

from __future__ import annotations

COST_CENTRE_NAMES = """
SELECT cost_centre, cost_centre_name FROM cost_centres ORDER BY cost_centre
"""

# The codes invoices, purchase orders and budgets use that the cost_centres table lacks,
# with how many rows of each table use them; nothing while the table is empty (before the
# first cost centre is loaded, no code can be judged).
UNKNOWN_COST_CENTRES = """
WITH used AS (
    SELECT 'invoices' AS table_name, cost_centre FROM invoices WHERE cost_centre IS NOT NULL
    UNION ALL
    SELECT 'purchase_orders', cost_centre FROM purchase_orders WHERE cost_centre IS NOT NULL
    UNION ALL
    SELECT 'budgets', cost_centre FROM budgets WHERE cost_centre IS NOT NULL
)
SELECT cost_centre, table_name, count(*) AS rows
FROM used
WHERE EXISTS (SELECT 1 FROM cost_centres)
  AND cost_centre NOT IN (SELECT cost_centre FROM cost_centres)
GROUP BY ALL
ORDER BY cost_centre, table_name
"""

# Of the codes a file's rows named ($codes), those the cost_centres table lacks; nothing
# while the table is empty.
CODES_NOT_KNOWN = """
SELECT code FROM unnest($codes::VARCHAR[]) AS t(code)
WHERE EXISTS (SELECT 1 FROM cost_centres)
  AND code NOT IN (SELECT cost_centre FROM cost_centres)
ORDER BY code
"""
