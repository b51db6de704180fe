"""How old the store's latest transactions are, and whether the overview should call them stale.

The rule (settings `stale_after_days`, 7 by default): a month with any data in it counts as
loaded; the month after it is due by `stale_after_days` days after that month ends. Data
whose last day is 30 October is fresh up to and including 7 December and stale from
8 December (November's data was due by then). The judgement takes `today` as an argument,
so it does not depend on the clock it is run on.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from kpi.store.database import Store
from kpi.store.queries.bookkeeping import date_bounds

# Each source as people name it: (canonical table, the date that says how recent a row is).
SOURCES: dict[str, tuple[str, str]] = {
    "invoices": ("invoices", "invoice_date"),
    "payments": ("invoices", "paid_date"),
    "purchase orders": ("purchase_orders", "po_date"),
    "goods receipts": ("goods_receipts", "receipt_date"),
    "inventory": ("inventory", "snapshot_date"),
}


def today() -> date:
    """The day freshness is judged on (one place the overview reads the clock)."""
    return date.today()


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def fresh_until(last_day: date, stale_after_days: int) -> date:
    """The last day data ending on `last_day` is fresh: `stale_after_days` days after the
    end of the month following `last_day`'s month."""
    next_month = month_end(last_day) + timedelta(days=1)
    return month_end(next_month) + timedelta(days=stale_after_days)


@dataclass(frozen=True)
class SourceAge:
    """One source's last data day and what the rule makes of it on `today`."""

    source: str
    last_day: date
    fresh_until: date
    today: date

    @property
    def days_old(self) -> int:
        return (self.today - self.last_day).days

    @property
    def stale(self) -> bool:
        return self.today > self.fresh_until

    @property
    def due_month(self) -> str:
        """The month whose data was (or will be) due on `fresh_until`, e.g. 'November'."""
        return calendar.month_name[(month_end(self.last_day) + timedelta(days=1)).month]


@dataclass(frozen=True)
class Freshness:
    """Every source that holds data (oldest first); none when nothing is loaded."""

    sources: tuple[SourceAge, ...]
    stale_after_days: int

    @property
    def stale(self) -> tuple[SourceAge, ...]:
        return tuple(s for s in self.sources if s.stale)


def judge(latest: Mapping[str, date | None], today: date, stale_after_days: int) -> Freshness:
    """Each source's age on `today` from its last data day (None: nothing loaded, left out)."""
    ages = [
        SourceAge(name, day, fresh_until(day, stale_after_days), today)
        for name, day in latest.items()
        if day is not None
    ]
    ages.sort(key=lambda a: (a.last_day, list(latest).index(a.source)))
    return Freshness(tuple(ages), stale_after_days)


def latest_days(store: Store) -> dict[str, date | None]:
    """The last data day of each source in SOURCES (None when it holds no dated row)."""
    with store.read() as con:
        return {
            name: con.execute(date_bounds(table, column)).fetchone()[1]
            for name, (table, column) in SOURCES.items()
        }


def data_freshness(store: Store, on: date) -> Freshness:
    """How old the store's data is on the day `on`, by the settings' `stale_after_days`."""
    return judge(latest_days(store), on, store.settings.stale_after_days)


# ---- as people read it -----------------------------------------------------------------


def day_text(day: date) -> str:
    """'30 Oct 2026'."""
    return f"{day.day} {day:%b %Y}"


def _age(days: int) -> str:
    if days < 0:
        return "dated after today"
    if days == 0:
        return "today's"
    return "1 day old" if days == 1 else f"{days} days old"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class _Group:
    """Sources whose last data day falls in the same month: the rule judges them alike."""

    names: list[str]
    first: SourceAge  # the oldest of them (its age, its due day)
    last_day: date

    @property
    def days(self) -> str:
        """'30 Oct 2026', or '28–30 Oct 2026' when their last days differ."""
        if self.first.last_day == self.last_day:
            return day_text(self.last_day)
        return f"{self.first.last_day.day}–{day_text(self.last_day)}"


def _groups(ages: tuple[SourceAge, ...]) -> list[_Group]:
    """Sources by the month of their last data day, oldest first, names in SOURCES order."""
    months: dict[tuple[int, int], list[SourceAge]] = {}
    for a in ages:
        months.setdefault((a.last_day.year, a.last_day.month), []).append(a)
    order = list(SOURCES)
    return [
        _Group(
            sorted((a.source for a in same), key=lambda n: order.index(n) if n in order else 99),
            same[0],
            max(a.last_day for a in same),
        )
        for same in months.values()
    ]


RULE = "setting `stale_after_days`"


def freshness_line(fresh: Freshness) -> str:
    """'Data up to **30 Oct 2026** — 33 days old. Fresh until **7 Dec 2026**: November's
    data is due 7 days after November ends (...)' in markdown; the sources are named apart
    when their last days fall in different months."""
    if not fresh.sources:
        return (
            "No data loaded yet: load the files on the **Data** page, or run "
            "`python -m kpi demo` to explore the demo data."
        )
    groups = _groups(fresh.sources)
    if len(groups) == 1:
        head = f"Data up to **{groups[0].days}** — {_age(groups[0].first.days_old)}."
    else:
        parts = " · ".join(
            f"{_names(g.names)} up to **{g.days}** ({_age(g.first.days_old)})" for g in groups
        )
        head = parts[0].upper() + parts[1:] + "."
    oldest = fresh.sources[0]
    month, days = oldest.due_month, fresh.stale_after_days
    when = f"{days} day{'' if days == 1 else 's'} after {month}" if days else f"when {month}"
    if oldest.stale:
        since = day_text(oldest.fresh_until + timedelta(days=1))
        return f"{head} Stale since **{since}**: {month}'s data was due {when} ended ({RULE})."
    return (
        f"{head} Fresh until **{day_text(oldest.fresh_until)}**: {month}'s data is due "
        f"{when} ends ({RULE})."
    )


def stale_warning(fresh: Freshness) -> str | None:
    """What is out of date and what to do, or None when every source is fresh."""
    if not fresh.stale:
        return None
    parts = [
        f"{_names(g.names)} up to {g.days} ({_age(g.first.days_old)}); "
        f"{g.first.due_month}'s data was due by {day_text(g.first.fresh_until)}"
        for g in _groups(fresh.stale)
    ]
    text = ". ".join(p[0].upper() + p[1:] for p in parts)
    return (
        f"The data is out of date. {text}. Load the newest files on the **Data** page (or "
        "ask whoever loads them) to see the figures of the months since."
    )
