"""Who a session acts as (kpi.core.identity, people, settings): every refusal by its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.core.identity import (
    IdentityRefused,
    chosen_person,
    host_is_local,
    local_refusal,
    signed_in_person,
)
from kpi.core.people import Person, display_name, find_person, normalise_email
from kpi.core.settings import OidcSettings, load_settings, parse_identity

CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
BUYER = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
KATE = Person("kate@example.org", "Kate Ng", "finance", "member")
PEOPLE = [CFO, BUYER, KATE]
ISSUER = "https://login.example.org/tenant-1/v2.0"
OIDC = OidcSettings(ISSUER)


# ---- settings.yaml: identity ----


def test_the_shipped_settings_say_local_mode() -> None:
    identity = load_settings(Path(__file__).resolve().parents[2] / "config" / "settings.yaml")
    assert (identity.identity.mode, identity.identity.problem) == ("local", None)


def test_no_settings_file_means_read_only_not_local(tmp_path: Path) -> None:
    identity = load_settings(tmp_path / "missing.yaml").identity
    assert identity.mode is None
    assert identity.problem.startswith("identity.mode is not set.")
    assert "Set `identity: {mode: local}` in settings.yaml" in identity.problem


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "s.yaml: identity.mode is not set."),
        ("local", "s.yaml: identity must be a mapping with a `mode` key."),
        ({}, "identity.mode is not set; it must be one of local, oidc."),
        ({"mode": "open"}, "identity.mode is 'open'; it must be one of local, oidc."),
        ({"mode": "oidc"}, "identity.oidc must be a mapping with at least `issuer`"),
        ({"mode": "oidc", "oidc": {}}, "identity.oidc.issuer must be the identity provider's"),
        (
            {"mode": "oidc", "oidc": {"issuer": "http://idp.example.org"}},
            "got 'http://idp.example.org'",
        ),
        (
            {"mode": "oidc", "oidc": {"issuer": ISSUER, "allowed_domain": "@example.org"}},
            "identity.oidc.allowed_domain must be a plain domain such as example.org",
        ),
    ],
)
def test_a_missing_or_invalid_identity_is_read_only_and_names_the_key(raw, fragment) -> None:
    identity = parse_identity(raw, "s.yaml")
    assert identity.mode is None
    assert fragment in identity.problem
    assert "Until then the app is read-only." in identity.problem


def test_an_oidc_identity_keeps_issuer_tenant_and_domain(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "identity:\n  mode: oidc\n  oidc:\n"
        f"    issuer: {ISSUER}\n    tenant: tenant-1\n    allowed_domain: Example.ORG\n"
    )
    identity = load_settings(path).identity
    assert identity.mode == "oidc" and identity.problem is None
    assert identity.oidc == OidcSettings(ISSUER, "tenant-1", "example.org")


# ---- e-mail addresses ----


def test_addresses_are_compared_after_ascii_only_normalisation() -> None:
    assert normalise_email("  Jonas.Berg@Example.ORG ") == "jonas.berg@example.org"
    assert normalise_email("kate@example.org") == "kate@example.org"
    # U+212A KELVIN SIGN lower()s to "k": it must not pass for kate@example.org
    assert normalise_email("\u212aate@example.org") is None
    assert normalise_email("kåte@example.org") is None
    assert normalise_email("no-at-sign") is None
    assert normalise_email("a@b@example.org") is None
    assert normalise_email("a b@example.org") is None
    assert normalise_email(None) is None


def test_find_person_matches_exactly_and_never_a_look_alike() -> None:
    assert find_person("KATE@example.org", PEOPLE) is KATE
    assert find_person("\u212aATE@example.org", PEOPLE) is None
    assert find_person("kate@example.org.evil", PEOPLE) is None
    assert find_person("", PEOPLE) is None


def test_display_name_shows_names_not_addresses() -> None:
    assert display_name("claire.dubois@example.org", PEOPLE) == "Claire Dubois"
    assert display_name("Jonas.Berg@example.org", PEOPLE) == "Jonas Berg"
    assert display_name("gone@example.org", PEOPLE) == "gone (not in people.yaml)"
    assert display_name("demo", PEOPLE) == "demo"
    assert display_name(None, PEOPLE) == ""


def test_a_link_chooses_only_a_person_in_people_yaml() -> None:
    assert chosen_person("jonas.berg@example.org", PEOPLE) is BUYER
    assert chosen_person("mallory@example.org", PEOPLE) is None
    assert chosen_person(None, PEOPLE) is None


# ---- local mode: only this computer ----


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8501", "LOCALHOST:8501", "127.0.0.1:8501", "[::1]:8501", "[::1]"],
)
def test_loopback_hosts_are_local(host: str) -> None:
    assert host_is_local(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "dashboard.example.org",
        "localhost.example.org:8501",
        "127.0.0.1.nip.io",
        "10.0.0.5:8501",
        "localhost:85x1",
        "[::1",
        "[::1]x",
        "::1",
        "ｌocalhost",
    ],
)
def test_other_hosts_are_not_local(host: str | None) -> None:
    assert not host_is_local(host)


def test_a_local_request_is_accepted() -> None:
    assert local_refusal({"Host": "127.0.0.1:8501", "User-Agent": "x"}, "127.0.0.1") is None


def test_a_foreign_host_is_refused_with_what_to_do() -> None:
    refusal = local_refusal({"host": "dashboard.example.org"}, "127.0.0.1")
    assert refusal.startswith("This request is addressed to 'dashboard.example.org', not to")
    assert "`identity: {mode: oidc}`" in refusal and "README, 'Sign-in'" in refusal


def test_a_request_without_host_is_refused() -> None:
    assert local_refusal({}, "127.0.0.1").startswith("This request is addressed to no Host")


@pytest.mark.parametrize(
    "header", ["X-Forwarded-For", "x-forwarded-host", "Forwarded", "X-Real-IP"]
)
def test_a_proxied_request_is_refused_even_with_a_local_host(header: str) -> None:
    refusal = local_refusal({"Host": "localhost:8501", header: "203.0.113.9"}, "127.0.0.1")
    assert refusal.startswith(f"This request came through a proxy ({header.lower()})")


def test_a_server_listening_on_every_address_is_refused() -> None:
    refusal = local_refusal({"host": "localhost:8501"}, "0.0.0.0")
    assert refusal.startswith("The app listens on '0.0.0.0', so other computers can reach it.")
    assert local_refusal({"host": "localhost:8501"}, "::1") is None


# ---- sign-in ----


def claims(**extra: object) -> dict[str, object]:
    return {"iss": ISSUER, "email": "jonas.berg@example.org", "email_verified": True, **extra}


def test_a_verified_listed_person_from_the_issuer_is_accepted() -> None:
    assert signed_in_person(claims(email="Jonas.Berg@example.org"), OIDC, PEOPLE) is BUYER
    assert signed_in_person(claims(iss=ISSUER + "/"), OIDC, PEOPLE) is BUYER


@pytest.mark.parametrize(
    ("token", "start"),
    [
        (claims(email_verified=False), "Your identity provider has not verified your e-mail"),
        (claims(email_verified=None), "Your identity provider has not verified your e-mail"),
        (claims(email_verified="false"), "Your identity provider has not verified your e-mail"),
        (claims(iss="https://evil.example.net"), "Your sign-in came from 'https://evil.example"),
        (claims(iss=None), "Your sign-in came from 'an unnamed issuer'"),
        (claims(email=""), "Your sign-in carries no e-mail address"),
        (claims(email="\u212aate@example.org"), "You are signed in, but not listed"),
        (claims(email="stranger@example.org"), "You are signed in, but not listed"),
    ],
)
def test_sign_in_refusals(token: dict, start: str) -> None:
    with pytest.raises(IdentityRefused) as refused:
        signed_in_person(token, OIDC, PEOPLE)
    assert str(refused.value).startswith(start)


def test_email_verified_as_text_true_is_accepted() -> None:
    assert signed_in_person(claims(email_verified="true"), OIDC, PEOPLE) is BUYER


def test_the_tenant_is_checked_when_configured() -> None:
    pinned = OidcSettings(ISSUER, tenant="tenant-1")
    assert signed_in_person(claims(tid="tenant-1"), pinned, PEOPLE) is BUYER
    for tid in ("tenant-2", None):
        with pytest.raises(IdentityRefused, match="belongs to another organisation"):
            signed_in_person(claims(tid=tid), pinned, PEOPLE)


def test_the_allowed_domain_reads_as_a_viewer_and_nothing_more() -> None:
    open_domain = OidcSettings(ISSUER, allowed_domain="example.org")
    reader = signed_in_person(claims(email="Pat@Example.org", name="Pat Lee"), open_domain, PEOPLE)
    assert reader == Person("pat@example.org", "Pat Lee", "none", "viewer")
    assert not reader.can_write
    for email in ("pat@example.org.evil", "pat@sub.example.org", "p\u212a@example.org"):
        with pytest.raises(IdentityRefused, match="not listed"):
            signed_in_person(claims(email=email), open_domain, PEOPLE)


def test_tables_and_downloads_show_names_not_addresses(tmp_path: Path, monkeypatch) -> None:
    import polars as pl

    from ui.widgets import named

    (tmp_path / "people.yaml").write_text(
        "people:\n  - {email: sam.okafor@example.org, name: Sam Okafor, department: finance,"
        " role: member}\n"
    )
    monkeypatch.setenv("KPI_CONFIG", str(tmp_path))
    frame = pl.DataFrame(
        {
            "changed_by": ["Sam.Okafor@example.org", "gone@example.org", None],
            "owner": ["finance", "sam.okafor@example.org", "joint"],
            "reason": ["sam.okafor@example.org", "x", "y"],  # free text is left as typed
        }
    )
    assert named(frame).to_dict(as_series=False) == {
        # an empty text cell shows empty, not "None" (issue 15, tables for people)
        "changed_by": ["Sam Okafor", "gone (not in people.yaml)", ""],
        "owner": ["finance", "Sam Okafor", "joint"],
        "reason": ["sam.okafor@example.org", "x", "y"],
    }
