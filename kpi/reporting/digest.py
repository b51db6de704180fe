"""The digest for a person or a department: what changed since a date, as text or HTML.

It reaches the people who are not looking at the dashboard (`python -m kpi digest`, run
from cron). Its figures are the scorecard's: the same `scorecard()` call the overview
makes (every KPI company-wide, in the reporting currency, for a fiscal quarter), formatted
and labelled by the same functions.

The rule for "status changed since DATE": the scorecard the app showed at DATE is the one
of the latest complete quarter at DATE (`latest_complete_period` on the data up to DATE)
judged by the definitions as they stood at DATE (rebuilt from their history, see
kpi.reporting.definitions_then); the scorecard now is the one of the latest complete
quarter of the store now, by today's definitions. A KPI's status changed when the two
differ; it is newly off target when it is off target (red) now and was not then. Values
are today's data for both: data of a quarter loaded again since DATE is not replayed. The
definitions saved since DATE are listed, so a reader sees why a target moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from html import escape
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from kpi.analyses.scorecard import (
    STATUS_ORDER,
    DataWindow,
    data_window,
    latest_complete_period,
    scorecard,
)
from kpi.core.formatting import format_value
from kpi.core.people import DEPARTMENTS, Person, display_name, find_person
from kpi.core.scope import Scope
from kpi.reporting.definitions_then import DefinitionsThen, definitions_at, recorded_at
from kpi.reporting.scorecard_view import STATUS_LABELS
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.workflows import inbox, threads
from kpi.workflows.waiting import WaitingItem

OFF_TARGET = "red"  # "■ Off target" on the scorecard


class DigestError(ValueError):
    """A digest that cannot be made as asked (a bad date, nobody of that name); says what to do."""


@dataclass(frozen=True)
class Recipient:
    """Who the digest is for: one person of people.yaml, or everyone of a department."""

    key: str  # the e-mail or the department, as asked
    name: str  # "Sam Okafor" or "finance"
    department: str
    addresses: tuple[str, ...]  # where --send delivers it
    person: Person | None = None


def recipient(people: Sequence[Person], wanted: str) -> Recipient:
    """The person with this e-mail, or the department of this name; anything else refused
    with who can be named."""
    text = (wanted or "").strip()
    if "@" in text:
        person = find_person(text, people)
        if person is None:
            raise DigestError(
                f"--for {text}: nobody with that e-mail is in config/people.yaml; name a "
                "person listed there, or a department (" + ", ".join(_departments(people)) + ")"
            )
        return Recipient(person.email, person.name, person.department, (person.email,), person)
    department = text.lower()
    if department not in _departments(people):
        raise DigestError(
            f"--for {text!r}: not an e-mail nor a department; use a person's e-mail from "
            "config/people.yaml or one of: " + ", ".join(_departments(people))
        )
    members = tuple(p.email for p in people if p.department == department)
    return Recipient(department, department, department, members)


def _departments(people: Sequence[Person]) -> list[str]:
    return list(dict.fromkeys([*DEPARTMENTS, *(p.department for p in people)]))


def parse_since(text: str, timezone: str, today: date | None = None) -> datetime:
    """DATE (YYYY-MM-DD, midnight in the settings' time zone) or a date and time, as the UTC
    moment (naive) the store's records are compared with; a date after today is refused."""
    raw = (text or "").strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise DigestError(
            f"--since {text!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-11-25), "
            "or with a time as 2026-11-25T08:00"
        ) from None
    if len(raw) == 10:
        moment = datetime.combine(moment.date(), time())
    zone = ZoneInfo(timezone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    today = today or datetime.now(zone).date()
    if moment.astimezone(zone).date() > today:
        raise DigestError(
            f"--since {text}: that is after today ({today.isoformat()}); a digest covers "
            "what happened since a past date"
        )
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class StatusChange:
    """One KPI whose scorecard status differs between then and now (figures as shown)."""

    kpi_id: str
    name: str
    owner: str
    status_then: str | None  # None: the KPI had no scorecard row then
    status_now: str
    value_then: str
    value_now: str
    target_then: str
    target_now: str

    @property
    def newly_off_target(self) -> bool:
        return self.status_now == OFF_TARGET and self.status_then != OFF_TARGET


@dataclass(frozen=True)
class Digest:
    """Everything one digest says; rendered by `digest_text` and `digest_html`."""

    recipient: Recipient
    since: datetime  # UTC, naive
    since_shown: str  # as asked, in the settings' zone
    period_then: str | None
    period_now: str | None
    changes: tuple[StatusChange, ...]
    saves: tuple[dict, ...]  # definition saves since the date, oldest first
    waiting: tuple[WaitingItem, ...] = ()  # the inbox's items, in the inbox's order
    mentions: tuple[threads.Comment, ...] = ()  # comments since the date, oldest first
    notes: tuple[str, ...] = field(default_factory=tuple)
    timezone: str = "UTC"  # the zone times are shown in (settings.yaml `timezone`)
    app_url: str | None = None  # the dashboard's address (`digest.app_url`), for links

    @property
    def newly_off_target(self) -> tuple[StatusChange, ...]:
        return tuple(c for c in self.changes if c.newly_off_target)

    @property
    def other_changes(self) -> tuple[StatusChange, ...]:
        return tuple(c for c in self.changes if not c.newly_off_target)


def build_digest(
    store: Store,
    definitions: Sequence[KpiDefinition],
    people: Sequence[Person],
    wanted: str,
    since: datetime,
    definitions_path: Path | None = None,
) -> Digest:
    """The digest for `wanted` (an e-mail or a department) of what changed since `since`."""
    who = recipient(people, wanted)
    notes: list[str] = []
    then_known = (
        definitions_at(definitions_path, since, store.settings)
        if definitions_path is not None
        else DefinitionsThen(None, ())
    )
    window = data_window(store)
    period_now = period_then = None
    changes: tuple[StatusChange, ...] = ()
    if window is None:
        notes.append(
            "The store holds no invoices yet, so there is no scorecard: load them on the "
            "Data page or with `python -m kpi load invoices FILE`."
        )
    else:
        period_now = latest_complete_period(window, "quarter", store)
        if since.date() < window.first:
            notes.append(
                f"The store's data starts on {window.first.isoformat()}, after "
                f"{since.date().isoformat()}: there was no scorecard then, so every KPI's "
                "status is listed as new."
            )
        else:
            then = DataWindow(window.first, min(window.last, since.date()))
            period_then = latest_complete_period(then, "quarter", store)
        then_definitions = definitions
        if then_known.definitions is not None:
            then_definitions = then_known.definitions
        elif then_known.problem:
            notes.append(
                "The definitions as they stood then cannot be rebuilt from their history "
                f"({then_known.problem}): the scorecard then is judged by today's."
            )
        changes = _status_changes(store, definitions, then_definitions, period_then, period_now)
        if period_then == period_now:
            notes.append(
                f"No quarter closed since then: both scorecards are of {period_now}; a "
                "status moved only where a definition was saved since (listed below)."
            )
    saves = tuple(reversed(then_known.saves))
    return Digest(
        who,
        since,
        _shown(since, store.settings.timezone),
        period_then,
        period_now,
        changes,
        saves,
        _waiting(store, who, definitions_path),
        tuple(threads.mentions_since(store, since, who.key, people=people)),
        notes=tuple(notes),
        timezone=store.settings.timezone,
        app_url=store.settings.digest_app_url,
    )


def _waiting(
    store: Store, who: Recipient, definitions_path: Path | None
) -> tuple[WaitingItem, ...]:
    """What the Inbox page lists for the person, or for the department (its approvals and
    signatures, reviews, unresolved threads that mention it): the same function, so the
    digest, the inbox and the sidebar's count agree. A department that signs nothing
    (operations) has nothing waiting."""
    if who.person is not None:
        return tuple(inbox.waiting_for(store, who.person, definitions_path))
    if who.department not in DEPARTMENTS:
        return ()
    return tuple(inbox.waiting_for_department(store, who.department, definitions_path))


def _status_changes(
    store: Store,
    definitions: Sequence[KpiDefinition],
    then_definitions: Sequence[KpiDefinition],
    period_then: str | None,
    period_now: str,
) -> tuple[StatusChange, ...]:
    """The KPIs whose status differs between the scorecard then (its quarter, its
    definitions) and now, worst first. A KPI added since was on no scorecard then."""
    currency = store.settings.reporting_currency
    now = {
        r["id"]: r for r in scorecard(store, Scope(), definitions, period_now).iter_rows(named=True)
    }
    if period_then is None:
        then: dict[str, dict] = {}
    elif period_then == period_now and then_definitions is definitions:
        then = now
    else:
        card = scorecard(store, Scope(), then_definitions, period_then)
        then = {r["id"]: r for r in card.iter_rows(named=True)}
    out = []
    for kpi_id, row in now.items():
        before = then.get(kpi_id)
        if before is not None and before["status"] == row["status"]:
            continue
        out.append(
            StatusChange(
                kpi_id,
                row["name"],
                row["owner"],
                None if before is None else before["status"],
                row["status"],
                "–" if before is None else format_value(before["value"], row["unit"], currency),
                format_value(row["value"], row["unit"], currency),
                "–" if before is None else format_value(before["target"], row["unit"], currency),
                format_value(row["target"], row["unit"], currency),
            )
        )
    return tuple(sorted(out, key=lambda c: (STATUS_ORDER.get(c.status_now, 9), c.name)))


# ---- rendering ---------------------------------------------------------------------------
def digest_subject(d: Digest) -> str:
    """The e-mail's subject: who, since when, and the counts that matter most."""
    parts = [
        f"{len(d.newly_off_target)} newly off target",
        f"{len(d.waiting)} waiting",
        f"{len(d.mentions)} new mention{'s' if len(d.mentions) != 1 else ''}",
    ]
    return f"KPI digest for {d.recipient.name} since {d.since_shown[:10]}: " + ", ".join(parts)


def _status(code: str | None) -> str:
    return "not on the scorecard" if code is None else STATUS_LABELS.get(code, code)


def _change_line(c: StatusChange) -> str:
    return (
        f"{c.name} ({c.owner}): {_status(c.status_then)} → {_status(c.status_now)}; "
        f"value {c.value_then} → {c.value_now}, target {c.target_then} → {c.target_now}"
    )


def _shown(moment: datetime | None, zone: str) -> str:
    """A recorded UTC moment as the app shows it: in the settings' zone, the zone named."""
    if moment is None:
        return "–"
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _save_line(record: dict, people: Sequence[Person], zone: str) -> str:
    when = _shown(recorded_at(record.get("when")), zone)
    who = display_name(record.get("who"), people)
    why = str(record.get("why") or "").strip()
    line = f"{when}, {record.get('kpi_id')}: {record.get('action')} by {who}"
    return f"{line} ({why})" if why else line


WAITING_SHOWN = 30  # an e-mail lists this many waiting items; the inbox has them all


def _waiting_lines(d: Digest) -> list[tuple[str, str | None]]:
    """The inbox's items in its order, each with its link; past WAITING_SHOWN, how many
    more and where they are."""
    items = d.waiting
    lines = [(_waiting_line(i), item_link(d.app_url, i)) for i in items[:WAITING_SHOWN]]
    if len(items) > WAITING_SHOWN:
        inbox_url = f"{d.app_url}/inbox" if d.app_url else None
        lines.append(
            (
                f"… and {len(items) - WAITING_SHOWN} more: open the Inbox page of the "
                "dashboard to see and act on all of them",
                inbox_url,
            )
        )
    return lines


def item_link(app_url: str | None, item: WaitingItem) -> str | None:
    """Where the item is acted on in the dashboard (its page and query), or None without
    `digest.app_url`. Streamlit serves pages/inbox.py at <app>/inbox."""
    if not app_url:
        return None
    query = f"?{urlencode(item.query)}" if item.query else ""
    return f"{app_url}/{Path(item.page).stem}{query}"


def _waiting_line(item: WaitingItem) -> str:
    since = f" (since {item.since:%Y-%m-%d})" if item.since else ""
    return f"{item.title}: {item.detail}{since}"


def _mention_line(
    comment: threads.Comment, zone: str, app_url: str | None
) -> tuple[str, str | None]:
    """Who wrote what where, the text whole (it is quoted, never interpreted), with a link
    to the thread when the dashboard's address is set."""
    when = _shown(comment.created_at, zone)
    where = threads.describe_subject(comment.subject)
    text = f"{when}, {comment.author_name} on {where}: {' '.join(comment.text.split())}"
    if not app_url:
        return text, None
    page, query = threads.subject_link(comment.subject)
    link = f"{app_url}/{Path(page).stem}?{urlencode(query)}"
    return text, link


def _sections(
    d: Digest, people: Sequence[Person]
) -> list[tuple[str, list[tuple[str, str | None]], str, tuple[StatusChange, ...] | None]]:
    """(heading, lines with their link or None, what an empty section says, the status
    changes it lists when it is one of the scorecard's sections) in the order a reader
    needs them."""
    if d.period_now is None:
        period = "no scorecard"
    elif d.period_then in (None, d.period_now):
        period = f"the scorecard of {d.period_now}"
    else:
        period = f"the scorecard of {d.period_now} against {d.period_then}"
    off, other = d.newly_off_target, d.other_changes
    return [
        (
            f"Newly off target ({period})",
            [(_change_line(c), None) for c in off],
            "No KPI went off target.",
            off,
        ),
        (
            "Other status changes",
            [(_change_line(c), None) for c in other],
            "No other KPI changed status.",
            other,
        ),
        ("Waiting for you", _waiting_lines(d), "Nothing is waiting.", None),
        (
            "New comments mentioning you",
            [_mention_line(c, d.timezone, d.app_url) for c in d.mentions],
            "No new comment mentions you.",
            None,
        ),
        (
            "KPI definitions saved since then",
            [(_save_line(r, people, d.timezone), None) for r in d.saves],
            "No definition was saved.",
            None,
        ),
    ]


def digest_text(d: Digest, people: Sequence[Person]) -> str:
    """The digest as plain text (the e-mail's text part and the command's default output)."""
    lines = [digest_subject(d), f"Since {d.since_shown}, for {_for(d)}.", *d.notes, ""]
    for heading, items, empty, _ in _sections(d, people):
        lines.append(heading)
        lines.append("-" * len(heading))
        for text, link in items:
            lines.append(f"- {text}")
            if link:
                lines.append(f"  {link}")
        if not items:
            lines.append(empty)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


CSS = (
    "body{font-family:Arial,Helvetica,sans-serif;color:#1f2933;max-width:60em}"
    "table{border-collapse:collapse;margin:.3em 0 1em}"
    "th,td{border-bottom:1px solid #d9dee3;padding:.3em .6em;text-align:left;"
    "vertical-align:top}td.n{text-align:right;white-space:nowrap}"
    ".red{color:#b42318}.amber{color:#b54708}.green{color:#067647}"
)
_HEAD = ("KPI", "Owner", "Status then", "Status now", "Value then", "Value now")
_HEAD += ("Target then", "Target now")


def _change_table(changes: Sequence[StatusChange]) -> str:
    """The status changes as a table; each cell's text escaped."""

    def status(code: str | None) -> str:
        return f"<span class='{escape(code or '')}'>{escape(_status(code))}</span>"

    rows = [
        "<tr>"
        f"<td>{escape(c.name)}</td><td>{escape(c.owner)}</td>"
        f"<td>{status(c.status_then)}</td><td>{status(c.status_now)}</td>"
        f"<td class='n'>{escape(c.value_then)}</td><td class='n'>{escape(c.value_now)}</td>"
        f"<td class='n'>{escape(c.target_then)}</td><td class='n'>{escape(c.target_now)}</td>"
        "</tr>"
        for c in changes
    ]
    head = "".join(f"<th>{h}</th>" for h in _HEAD)
    return f"<table><tr>{head}</tr>" + "".join(rows) + "</table>"


def digest_html(d: Digest, people: Sequence[Person]) -> str:
    """The digest as one HTML document; every text it quotes is escaped, never markup."""
    title = f"KPI digest for {d.recipient.name}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Since {escape(d.since_shown)}, for {escape(_for(d))}: "
        f"{escape(digest_subject(d).partition(': ')[2])}.</p>",
    ]
    body.extend(f"<p><em>{escape(note)}</em></p>" for note in d.notes)
    for heading, items, empty, changes in _sections(d, people):
        body.append(f"<h2>{escape(heading)}</h2>")
        if changes:
            body.append(_change_table(changes))
        elif items:
            body.append("<ul>" + "".join(f"<li>{_linked(t, u)}</li>" for t, u in items) + "</ul>")
        else:
            body.append(f"<p>{escape(empty)}</p>")
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{escape(digest_subject(d))}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _linked(text: str, link: str | None) -> str:
    """A line of the HTML part: its text escaped, as a link to the dashboard when it has one."""
    if not link:
        return escape(text)
    return f"<a href='{escape(link, quote=True)}'>{escape(text)}</a>"


def _for(d: Digest) -> str:
    r = d.recipient
    if r.person is not None:
        return f"{r.name} ({r.department})"
    return f"the {r.department} department ({len(r.addresses)} people)"
