"""The SQL of procurement's stock marks: their history, the marks in force, the writes.

Part of the SQL layer: constant statements with bound parameters over `stock_mark_changes`
(made by kpi.store.schema.STOCK_MARKS_DDL), `items` and `inventory`. The inventory classes
read the same table inside the `inventory_position` view (kpi.store.view_sql_operations).
"""

from __future__ import annotations

LAST_CHANGE_ID = "SELECT coalesce(max(change_id), 0) FROM stock_mark_changes"

# the item's latest change: its mark now (a 'removed' row means none)
LATEST_CHANGE = """
SELECT change_id, action, kind, review_date, reason, effective_from, changed_at, changed_by,
       changed_by_name
FROM stock_mark_changes WHERE item_id = $item_id
ORDER BY change_id DESC LIMIT 1
"""

# an item the store knows: in the items table or in a stock snapshot
ITEM_KNOWN = """
SELECT (SELECT count(*) FROM items WHERE item_id = $item_id)
     + (SELECT count(*) FROM inventory WHERE item_id = $item_id) > 0
"""

# the first snapshot date a change made on $day applies to: the store's latest snapshot on
# or before that day (the one procurement looked at), else the day itself
EFFECTIVE_FROM = """
SELECT coalesce(max(snapshot_date), CAST($day AS DATE)) FROM inventory
WHERE snapshot_date <= CAST($day AS DATE)
"""

INSERT_CHANGE = """
INSERT INTO stock_mark_changes (change_id, item_id, action, kind, review_date, reason,
    effective_from, changed_at, changed_by, changed_by_name)
VALUES ($change_id, $item_id, $action, $kind, $review_date, $reason, $effective_from,
    $changed_at, $changed_by, $changed_by_name)
"""

# every item's mark now (its latest change, when it is not a removal), with the item's
# description and category, who first marked it in this run of marks and when
CURRENT_MARKS = """
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY change_id DESC) AS n
    FROM stock_mark_changes
)
SELECT r.item_id, it.description, it.category, r.kind, r.review_date, r.reason,
       r.effective_from, r.changed_at AS marked_at, r.changed_by AS marked_by,
       r.changed_by_name AS marked_by_name, r.change_id,
       r.review_date < CAST($today AS DATE) AS review_passed
FROM ranked r LEFT JOIN items it ON it.item_id = r.item_id
WHERE r.n = 1 AND r.action <> 'removed'
ORDER BY r.review_date, r.item_id
"""

# the history, newest first: every change, or one item's
HISTORY = """
SELECT h.change_id, h.item_id, it.description, h.action, h.kind, h.review_date, h.reason,
       h.effective_from, h.changed_at, h.changed_by, h.changed_by_name
FROM stock_mark_changes h LEFT JOIN items it ON it.item_id = h.item_id
WHERE $item_id::VARCHAR IS NULL OR h.item_id = $item_id::VARCHAR
ORDER BY h.change_id DESC
"""

# the items a mark can be put on: those in the latest snapshot of any location, with their
# description, category and stock value there (the form's choices)
MARKABLE_ITEMS = """
WITH latest AS (
    SELECT location, max(snapshot_date) AS snapshot_date FROM inventory GROUP BY location
)
SELECT inv.item_id, any_value(it.description) AS description,
       any_value(it.category) AS category
FROM inventory inv
JOIN latest l ON l.location = inv.location AND l.snapshot_date = inv.snapshot_date
LEFT JOIN items it ON it.item_id = inv.item_id
GROUP BY inv.item_id
ORDER BY inv.item_id
"""
