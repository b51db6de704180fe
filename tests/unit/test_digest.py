"""The digest (issue 17, point 5): its rule, its figures against the scorecard and the engine,
escaping, refusals, and delivery to a real SMTP server (aiosmtpd) running in this process."""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kpi import cli
from kpi.analyses.scorecard import (
    data_window,
    latest_complete_period,
    rag_status,
    scorecard,
)
from kpi.core import periods
from kpi.core.formatting import format_value
from kpi.core.people import load_people
from kpi.core.scope import Scope
from kpi.core.settings import SettingsError, SmtpSettings, load_settings
from kpi.reporting.digest import (
    DigestError,
    build_digest,
    digest_html,
    digest_subject,
    digest_text,
    parse_since,
    recipient,
)
from kpi.reporting.digest_mail import DeliveryError, digest_message, send, smtp_password
from kpi.reporting.scorecard_view import STATUS_LABELS
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import compute
from kpi.store.database import Store

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = load_people(ROOT / "config" / "people.yaml")


@pytest.fixture(scope="module")
def store(demo_copy, tmp_path_factory) -> Store:
    return Store(demo_copy(0.05, tmp_path_factory.mktemp("digest") / "kpi.duckdb"))


@pytest.fixture(scope="module")
def definitions(store):
    return load_definitions(ROOT / "config" / "kpis.yaml", store.settings)


def _quarter_ago(store: Store) -> tuple[datetime, str, str]:
    """A --since date one quarter before the latest complete quarter closed, with the
    quarters the rule compares (worked out here from the data window, by hand)."""
    window = data_window(store)
    now = latest_complete_period(window, "quarter", store)
    then = periods.previous(now, store.settings.fiscal)
    # the first day of `now`: at that date its own quarter was still open
    since = datetime.combine(
        periods.period_range(now, store.settings.fiscal)[0], datetime.min.time()
    )
    return since, then, now


# ---- the rule and the figures --------------------------------------------------------------
def test_the_digest_compares_the_latest_complete_quarter_now_with_the_one_shown_then(
    store, definitions
):
    since, then, now = _quarter_ago(store)
    digest = build_digest(store, definitions, PEOPLE, "finance", since)
    assert (digest.period_then, digest.period_now) == (then, now)
    # the scorecard's own rows, computed apart: the KPIs whose status differs between them
    card_now = {
        r["id"]: r for r in scorecard(store, Scope(), definitions, now).iter_rows(named=True)
    }
    card_then = {
        r["id"]: r for r in scorecard(store, Scope(), definitions, then).iter_rows(named=True)
    }
    moved = {k for k in card_now if card_now[k]["status"] != card_then[k]["status"]}
    assert moved, "the demo's two last quarters must differ somewhere for this test to say much"
    assert {c.kpi_id for c in digest.changes} == moved
    newly_red = {k for k in moved if card_now[k]["status"] == "red"}
    assert {c.kpi_id for c in digest.newly_off_target} == newly_red
    assert not {c.kpi_id for c in digest.other_changes} & newly_red


def test_the_digests_figures_are_the_engines_and_the_scorecards(store, definitions):
    """Each figure the digest shows is the engine's value for that KPI and quarter, in the
    scorecard's format, and each status is the scorecard's rule applied to it."""
    since, then, now = _quarter_ago(store)
    digest = build_digest(store, definitions, PEOPLE, "finance", since)
    by_id = {k.id: k for k in definitions}
    cal = store.settings.fiscal
    tol = store.settings.amber_tolerance
    for change in digest.changes:
        kpi = by_id[change.kpi_id]
        for period, value_shown, target_shown, status in (
            (now, change.value_now, change.target_now, change.status_now),
            (then, change.value_then, change.target_then, change.status_then),
        ):
            start, end = periods.period_range(period, cal)
            frame = compute(store, [kpi], "quarter", (), start, end, {}, None).frame
            values = [r["value"] for r in frame.iter_rows(named=True) if r["period"] == period]
            value = values[0] if values else None
            target = kpi.targets.get(period)
            target = None if target is None else float(target)
            assert value_shown == format_value(value, kpi.unit, "EUR")
            assert target_shown == format_value(target, kpi.unit, "EUR")
            assert status == rag_status(value, target, kpi.direction, tol, kpi.unit)
        text = digest_text(digest, PEOPLE)
        assert f"{STATUS_LABELS[change.status_then]} → {STATUS_LABELS[change.status_now]}" in text
        assert f"value {change.value_then} → {change.value_now}" in text


def test_no_quarter_closed_since_the_date_says_so(store, definitions):
    window = data_window(store)
    digest = build_digest(
        store,
        definitions,
        PEOPLE,
        "procurement",
        datetime.combine(window.last, datetime.min.time()),
    )
    now = latest_complete_period(window, "quarter", store)
    assert digest.period_then == now
    assert digest.changes == ()
    text = digest_text(digest, PEOPLE)
    assert f"No quarter closed since then: both scorecards are of {now};" in text
    assert "No KPI went off target." in text


def test_a_date_before_the_data_lists_every_status_as_new(store, definitions):
    digest = build_digest(store, definitions, PEOPLE, "finance", datetime(2001, 1, 1))
    assert digest.period_then is None
    assert len(digest.changes) == len(definitions)
    assert all(c.status_then is None for c in digest.changes)
    assert "there was no scorecard then" in digest_text(digest, PEOPLE)


def test_definitions_saved_since_the_date_are_listed_and_html_never_holds_markup(
    store, definitions, tmp_path
):
    """A KPI name and a save's reason holding markup are shown as text in the HTML part."""
    kpis = tmp_path / "kpis.yaml"
    shutil.copyfile(ROOT / "config" / "kpis.yaml", kpis)
    lines = [
        {
            "when": "2020-01-01T09:00:00+00:00",
            "who": "sam.okafor@example.org",
            "kpi_id": "po_compliance",
            "action": "edited",
            "why": "old",
        },
        {
            "when": "2026-11-20T09:30:00+00:00",
            "who": "sam.okafor@example.org",
            "kpi_id": "po_compliance",
            "action": "target set",
            "why": "<b>board</b> & <script>alert(1)</script>",
        },
    ]
    (tmp_path / "kpis.history.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    since, _, _ = _quarter_ago(store)
    changed = next(iter(build_digest(store, definitions, PEOPLE, "finance", since).changes))
    hostile = [
        k.model_copy(update={"name": "<img src=x onerror=alert(1)> & Co"})
        if k.id == changed.kpi_id
        else k
        for k in definitions
    ]
    digest = build_digest(store, hostile, PEOPLE, "finance", since, kpis)
    assert [r["why"] for r in digest.saves] == ["<b>board</b> & <script>alert(1)</script>"]
    html = digest_html(digest, PEOPLE)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;b&gt;board&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; Co" in html
    text = digest_text(digest, PEOPLE)
    assert "2026-11-20 10:30 CET, po_compliance: target set by Sam Okafor (<b>board</b>" in text


# ---- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "since,message",
    [
        ("2026-13-01", "--since '2026-13-01' is not a date: write it as YYYY-MM-DD"),
        ("last week", "--since 'last week' is not a date: write it as YYYY-MM-DD"),
        ("2026-12-03", "--since 2026-12-03: that is after today (2026-12-02)"),
    ],
)
def test_a_bad_since_is_refused_with_what_to_write(since, message):
    with pytest.raises(DigestError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_since(since, "Europe/Berlin", today=date(2026, 12, 2))


def test_since_is_midnight_in_the_settings_zone_as_utc():
    assert parse_since("2026-11-25", "Europe/Berlin") == datetime(2026, 11, 24, 23, 0)
    assert parse_since("2026-07-01T08:00", "Europe/Berlin") == datetime(2026, 7, 1, 6, 0)


def test_for_names_a_person_or_a_department():
    assert recipient(PEOPLE, "Sam.Okafor@example.org").addresses == ("sam.okafor@example.org",)
    assert recipient(PEOPLE, "finance").addresses == (
        "claire.dubois@example.org",
        "sam.okafor@example.org",
    )
    with pytest.raises(DigestError, match="nobody with that e-mail is in config/people.yaml"):
        recipient(PEOPLE, "eve@example.org")
    with pytest.raises(
        DigestError, match="not an e-mail nor a department; .* finance, procurement"
    ):
        recipient(PEOPLE, "sales")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--since", "yesterday", "--for", "finance"], "Error: --since 'yesterday' is not a date"),
        (
            ["--since", "2026-11-01", "--for", "eve@example.org"],
            "Error: --for eve@example.org: nobody",
        ),
    ],
)
def test_the_command_refuses_in_one_sentence(argv, message, capsys, tmp_path):
    assert cli.main(["digest", *argv, "--db", str(tmp_path / "none.duckdb")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_smtp_settings_are_checked_by_name(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "digest:\n  smtp:\n    host: mail.example.org\n    sender: kpi@example.org\n"
    )
    assert load_settings(settings).digest_smtp == SmtpSettings(
        "mail.example.org", 587, "kpi@example.org"
    )
    settings.write_text("digest:\n  smtp: {host: m, sender: kpi@example.org, security: tls}\n")
    with pytest.raises(
        SettingsError, match="digest.smtp.security must be one of starttls, ssl, none"
    ):
        load_settings(settings)
    settings.write_text("digest:\n  smtp: {host: m, sender: nobody}\n")
    with pytest.raises(SettingsError, match="digest.smtp.sender must be the e-mail address"):
        load_settings(settings)
    assert load_settings(ROOT / "config" / "settings.yaml").digest_smtp is None
    settings.write_text("digest:\n  app_url: https://kpi.example.org/\n")
    assert load_settings(settings).digest_app_url == "https://kpi.example.org"
    settings.write_text('digest:\n  app_url: "javascript:alert(1)"\n')
    with pytest.raises(SettingsError, match="digest.app_url must be the dashboard's address"):
        load_settings(settings)


# ---- delivery through a real SMTP server ---------------------------------------------------
class _Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accept(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_accept,
        auth_require_tls=False,  # a plain localhost server: the test has no certificate
    )
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _read_back(envelope):
    return message_from_bytes(envelope.original_content, policy=default_policy)


def test_the_command_sends_the_digest_that_arrives_with_both_parts(
    store, definitions, smtp_server, tmp_path, monkeypatch, capsys
):
    inbox, port = smtp_server
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "settings.yaml").open("a") as f:
        f.write(
            f"digest:\n  smtp:\n    host: 127.0.0.1\n    port: {port}\n"
            "    sender: kpi-dashboard@example.org\n    security: none\n"
            "    username: kpi-dashboard\n"
        )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    monkeypatch.setenv("KPI_SMTP_PASSWORD", "s3cret")
    since, _, _ = _quarter_ago(store)
    argv = ["digest", "--since", since.date().isoformat(), "--for", "finance", "--send"]
    assert cli.main([*argv, "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert out == (
        "Digest for finance sent to claire.dubois@example.org, sam.okafor@example.org "
        f"via 127.0.0.1:{port}\n"
    )
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "kpi-dashboard@example.org"
    assert envelope.rcpt_tos == ["claire.dubois@example.org", "sam.okafor@example.org"]
    message = _read_back(envelope)
    expected = build_digest(
        store,
        definitions,
        PEOPLE,
        "finance",
        parse_since(since.date().isoformat(), "Europe/Berlin"),
    )
    assert message["Subject"] == digest_subject(expected)
    assert message["To"] == "claire.dubois@example.org, sam.okafor@example.org"
    assert message["From"] == "kpi-dashboard@example.org"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.replace("\r\n", "\n") == digest_text(expected, PEOPLE)
    assert html.replace("\r\n", "\n") == digest_html(expected, PEOPLE)
    first = expected.changes[0]
    assert f"value {first.value_then} → {first.value_now}" in text


def test_a_wrong_password_or_none_is_one_message_and_exit_1(
    smtp_server, tmp_path, monkeypatch, capsys
):
    inbox, port = smtp_server
    smtp = SmtpSettings("127.0.0.1", port, "kpi@example.org", "none", "kpi")
    message = digest_message("s", "kpi@example.org", ["sam.okafor@example.org"], "t", "<p>t</p>")
    monkeypatch.setenv("KPI_SMTP_PASSWORD", "wrong")
    with pytest.raises(
        DeliveryError, match=f"The mail server 127.0.0.1:{port} refused the sign-in of kpi"
    ):
        send(message, smtp)
    monkeypatch.delenv("KPI_SMTP_PASSWORD")
    with pytest.raises(DeliveryError, match="^No SMTP password for kpi: set KPI_SMTP_PASSWORD"):
        send(message, smtp, secrets_path=tmp_path / "absent.toml")
    assert inbox.envelopes == []
    # through the command: the same sentence on stderr, exit 1, nothing on stdout
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "settings.yaml").open("a") as f:
        f.write(
            f"digest:\n  smtp: {{host: 127.0.0.1, port: {port}, sender: k@example.org, "
            "security: none, username: kpi}\n"
        )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    monkeypatch.setattr("kpi.reporting.digest_mail.SECRETS_PATH", tmp_path / "absent.toml")
    db = _demo_path(tmp_path)
    assert (
        cli.main(["digest", "--since", "2026-10-01", "--for", "finance", "--send", "--db", db]) == 1
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "Not sent: No SMTP password for kpi: set KPI_SMTP_PASSWORD in the environment, "
        "or `password` under [smtp] in .streamlit/secrets.toml\n"
    )


def _demo_path(tmp_path: Path) -> str:
    """A store with some invoices (the hand fixture is enough to reach delivery)."""
    from tests import hand_fixture

    return str(hand_fixture.build(tmp_path / "hand.duckdb").path)


def test_an_unreachable_server_is_one_message():
    smtp = SmtpSettings("127.0.0.1", _free_port(), "kpi@example.org", "none")
    message = digest_message("s", "kpi@example.org", ["a@example.org"], "t", "<p>t</p>")
    with pytest.raises(DeliveryError, match=r"^The mail server 127\.0\.0\.1:\d+ cannot be reached"):
        send(message, smtp)


def test_the_password_comes_from_the_environment_before_secrets_toml(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[smtp]\npassword = "from-secrets"\n')
    monkeypatch.delenv("KPI_SMTP_PASSWORD", raising=False)
    assert smtp_password(secrets) == "from-secrets"
    monkeypatch.setenv("KPI_SMTP_PASSWORD", "from-env")
    assert smtp_password(secrets) == "from-env"
    secrets.write_text("[smtp\n")
    monkeypatch.delenv("KPI_SMTP_PASSWORD")
    with pytest.raises(DeliveryError, match="secrets.toml cannot be read"):
        smtp_password(secrets)


# ---- what waits, and who was mentioned -----------------------------------------------------
def test_waiting_items_and_new_mentions_are_the_inbox_and_the_threads(
    demo_copy, tmp_path, definitions
):
    from kpi.workflows import inbox, threads

    store = Store(demo_copy(0.05, tmp_path / "kpi.duckdb"))
    jonas = next(p for p in PEOPLE if p.email == "jonas.berg@example.org")
    sam = next(p for p in PEOPLE if p.email == "sam.okafor@example.org")
    before = datetime(2026, 1, 1)
    comment = threads.post_comment(
        store,
        jonas,
        "kpi_period:po_compliance@FY2026-Q3",
        "@finance why did <b>PO compliance</b> drop? @sam.okafor@example.org",
        people=PEOPLE,
    )
    for_sam = build_digest(store, definitions, PEOPLE, sam.email, before)
    assert for_sam.mentions == (comment,)
    assert list(for_sam.waiting) == inbox.waiting_for(store, sam)
    assert any(i.kind == "mention" for i in for_sam.waiting)
    text = digest_text(for_sam, PEOPLE)
    shown = comment.created_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert (
        f"{shown:%Y-%m-%d %H:%M %Z}, Jonas Berg on KPI value po_compliance in FY2026-Q3: "
        "@finance why did <b>PO compliance</b> drop?"
    ) in text
    if len(for_sam.waiting) > 30:  # the e-mail lists 30 and says where the rest are
        assert f"… and {len(for_sam.waiting) - 30} more: open the Inbox page" in text
    html = digest_html(for_sam, PEOPLE)
    assert "<b>PO compliance</b>" not in html
    assert "why did &lt;b&gt;PO compliance&lt;/b&gt; drop?" in html
    # with the dashboard's address set, each line links where it is acted on
    linked = Store(store.path, replace(store.settings, digest_app_url="https://kpi.example.org"))
    with_links = build_digest(linked, definitions, PEOPLE, sam.email, before)
    thread_url = (
        "https://kpi.example.org/definitions?kpi=po_compliance&period=FY2026-Q3&discussion=open"
    )
    assert f"drop? @sam.okafor@example.org\n  {thread_url}\n" in digest_text(with_links, PEOPLE)
    assert f"<a href='{thread_url.replace('&', '&amp;')}'>" in digest_html(with_links, PEOPLE)
    first = with_links.waiting[0]
    assert first.page.startswith("pages/")
    assert f"https://kpi.example.org/{first.page[6:-3]}" in digest_text(with_links, PEOPLE)
    # the department: its inbox view and the comment that mentions @finance
    for_finance = build_digest(store, definitions, PEOPLE, "finance", before)
    assert list(for_finance.waiting) == inbox.waiting_for_department(store, "finance")
    assert for_finance.mentions == (comment,)
    # procurement was not mentioned, and the comment's author is not told of it
    assert build_digest(store, definitions, PEOPLE, "procurement", before).mentions == ()
    assert build_digest(store, definitions, PEOPLE, jonas.email, before).mentions == ()
    # a date after the comment: no new mention
    later = comment.created_at.replace(microsecond=0) + timedelta(seconds=1)
    assert build_digest(store, definitions, PEOPLE, "finance", later).mentions == ()
    assert "No new comment mentions you." in digest_text(
        build_digest(store, definitions, PEOPLE, "finance", later), PEOPLE
    )


@pytest.fixture
def tls_server(tmp_path):
    """An aiosmtpd server that offers STARTTLS with a self-signed certificate for localhost
    and takes a sign-in only over TLS (as a real submission server does)."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=_accept,
    )
    controller.start()
    try:
        yield inbox, controller.port, cert
    finally:
        controller.stop()


def test_starttls_checks_the_servers_certificate(tls_server, monkeypatch):
    inbox, port, cert = tls_server
    smtp = SmtpSettings("localhost", port, "kpi@example.org", "starttls", "kpi")
    message = digest_message(
        "Digest", "kpi@example.org", ["sam.okafor@example.org"], "t", "<p>t</p>"
    )
    monkeypatch.setenv("KPI_SMTP_PASSWORD", "s3cret")
    # a certificate nobody vouches for is refused: nothing is sent in the clear instead
    with pytest.raises(DeliveryError, match=f"^No secure connection to localhost:{port}"):
        send(message, smtp)
    assert inbox.envelopes == []
    # trusted (as a company's own CA would be), the digest goes through TLS and the sign-in
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    send(message, smtp)
    (envelope,) = inbox.envelopes
    assert _read_back(envelope)["Subject"] == "Digest"
    assert envelope.rcpt_tos == ["sam.okafor@example.org"]


# ---- the definitions as they stood then ----------------------------------------------------
def test_a_target_set_since_the_date_judges_then_by_the_old_target(store, definitions, tmp_path):
    """No quarter closed, but a target was saved since: the scorecard then is judged by the
    target of then (rebuilt from the history), so the status change shows."""
    from kpi.workflows import definition_saves
    from kpi.workflows.definition_versions import file_version

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    kpis = config / "kpis.yaml"
    window = data_window(store)
    now = latest_complete_period(window, "quarter", store)
    card = {r["id"]: r for r in scorecard(store, Scope(), definitions, now).iter_rows(named=True)}
    row = next(
        r
        for r in card.values()
        if r["direction"] == "higher_is_better" and r["value"] and r["status"] in ("red", "amber")
    )
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    sam = next(p for p in PEOPLE if p.email == "sam.okafor@example.org")
    new_target = round(row["value"] / 2, 6)
    definition_saves.set_target(
        kpis, sam, row["id"], now, new_target, "the board lowered it", file_version(kpis)
    )
    today = load_definitions(kpis, store.settings)
    digest = build_digest(store, today, PEOPLE, "finance", since, kpis)
    assert digest.period_then == digest.period_now == now
    (change,) = digest.changes
    assert (change.kpi_id, change.status_then, change.status_now) == (
        row["id"],
        row["status"],
        "green",
    )
    assert change.target_then == format_value(row["target"], row["unit"], "EUR")
    assert change.target_now == format_value(new_target, row["unit"], "EUR")
    assert change.value_then == change.value_now == format_value(row["value"], row["unit"], "EUR")
    assert [r["action"] for r in digest.saves] == ["target set"]
    # the file edited by hand since: the rebuild stops and says so, today's definitions judge
    kpis.write_text(kpis.read_text().replace(f"{now}: {new_target}", f"{now}: {new_target * 2}"))
    edited = load_definitions(kpis, store.settings)
    digest = build_digest(store, edited, PEOPLE, "finance", since, kpis)
    assert digest.changes == ()
    assert "cannot be rebuilt from their history (the save of " in digest_text(digest, PEOPLE)
