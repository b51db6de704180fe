"""The SQL of exchange-rate look-ups the analyses need beside the views (a target's rate).

Constant statements with bound parameters, run on a connection whose views are in the
display currency (Store.read(display_currency=...)), so `fx_factor` converts to it.
"""

from __future__ import annotations

# The mean factor (display-currency units per unit of `currency`) over the rates dated in
# [start, end]: the rate a flow spread over the period is converted at on average, as the
# views convert each line at its own day's rate. A period without a rate of its own takes
# the last rate before it, as the views' as-of join would.
PERIOD_FACTOR = """
SELECT coalesce(
    (SELECT avg(factor) FROM fx_factor
     WHERE currency = $currency AND date BETWEEN $start AND $end),
    (SELECT factor FROM fx_factor
     WHERE currency = $currency AND date <= $start ORDER BY date DESC LIMIT 1)
) AS factor
"""
