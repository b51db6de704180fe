"""Who a session acts as, through the real pages: identity fails closed (issue 13, point 3).

Sign-in is simulated with AppTest's `user` (what st.user returns) and `secrets`; the
request's headers with the `local_browser` fixture (tests/conftest.py), which
ui.context.request_headers returns.
"""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.conftest import CFO, acting

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://login.example.org/tenant-1/v2.0"
JONAS = "Jonas Berg (procurement, member)"
AUTH = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-secret",
        "client_id": "kpi-dashboard",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    }
}
OIDC_SETTINGS = f"identity:\n  mode: oidc\n  oidc:\n    issuer: {ISSUER}\n    tenant: tenant-1\n"


def _settings(config: Path, identity: str) -> None:
    """settings.yaml of the test's config copy with its identity section replaced."""
    shipped = (ROOT / "config" / "settings.yaml").read_text()
    text = re.sub(r"\nidentity:\n  mode: local\n", "\n", shipped)
    assert "\nidentity:" not in text
    (config / "settings.yaml").write_text(text + identity)


def _page(page: str = "pages/data.py", **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.info, *at.warning, *at.caption, *at.markdown)]
    return "\n".join(str(p) for p in parts)


def _acting_box(at: AppTest):
    return next((s for s in at.sidebar.selectbox if s.key == "acting_as"), None)


def _nothing_shown(at: AppTest) -> None:
    """Refused: no page title, no table, no chart, no acting choice."""
    assert not at.title and not at.dataframe and not at.get("plotly_chart")
    assert _acting_box(at) is None


# ---- local mode ----


def test_a_fresh_session_acts_as_nobody_and_may_not_write(store):
    at = _run(_page(up_table="fx_rates"))
    box = _acting_box(at)
    assert box.value is None and box.placeholder == "Choose who you act as"
    assert "nobody chosen, so you can read but not change anything" in _texts(at)
    assert "as" not in at.query_params
    # the upload form is shown disabled with the reason (the library refuses anyway: test_loads)
    assert any("Nobody is chosen: choose who you act as" in i.value for i in at.info)
    assert [s.disabled for s in at.selectbox if s.key == "up_table"] == [True]


def test_choosing_a_person_puts_them_in_the_url(store):
    at = _run(acting(_page(), JONAS))
    assert _acting_box(at).value == JONAS
    assert at.query_params["as"] == "jonas.berg@example.org"
    assert "acting as **Jonas Berg**" in "\n".join(i.value for i in at.sidebar.info)


def test_the_url_brings_the_person_back_after_a_reload(store):
    at = _page()
    at.query_params["as"] = "Jonas.Berg@example.org"
    _run(at)
    assert _acting_box(at).value == JONAS
    assert at.query_params["as"] == "jonas.berg@example.org"


def test_a_choice_replaces_the_person_of_the_link_for_the_next_reload(store):
    # issue 15, point 5: opened from a link acting as the CFO (read when the session began),
    # the person has picked Jonas: the URL follows the choice, so the reload (a new session
    # on that URL) acts as Jonas, not as the link's CFO. (AppTest runs a page on its own
    # once per session: the browser test walks the same through app.py, reloads and page
    # switches included, tests/browser/test_browser_identity.py.)
    at = _page(acting_as=JONAS, _as_link_read=True)
    at.query_params["as"] = "claire.dubois@example.org"
    _run(at)
    assert _acting_box(at).value == JONAS
    assert at.query_params["as"] == "jonas.berg@example.org"
    reloaded = _page("pages/savings.py")
    reloaded.query_params["as"] = at.query_params["as"]
    _run(reloaded)
    assert _acting_box(reloaded).value == JONAS
    assert "acting as **Jonas Berg**" in "\n".join(i.value for i in reloaded.sidebar.info)


def test_a_url_naming_someone_not_in_people_yaml_chooses_nobody(store):
    for email in ("mallory@example.org", "\u212aate@example.org", ""):
        at = _page()
        at.query_params["as"] = email
        _run(at)
        assert _acting_box(at).value is None, email
        assert "as" not in at.query_params


def test_local_mode_refuses_a_foreign_host(store, local_browser):
    local_browser["host"] = "dashboard.example.org"
    at = _run(_page("app.py"))
    _nothing_shown(at)
    [refusal] = [e.value for e in at.error]
    assert refusal.startswith("This request is addressed to 'dashboard.example.org', not to")
    assert "README, 'Sign-in'" in refusal


def test_local_mode_refuses_a_proxied_request(store, local_browser):
    local_browser["x-forwarded-for"] = "203.0.113.9"
    at = _page("pages/savings.py")
    at.query_params["as"] = "claire.dubois@example.org"  # a link cannot get past the refusal
    _run(at)
    _nothing_shown(at)
    [refusal] = [e.value for e in at.error]
    assert refusal.startswith("This request came through a proxy (x-forwarded-for)")


def test_a_missing_identity_mode_is_read_only_not_local(store, config):
    _settings(config, "")
    at = _run(_page(up_table="fx_rates", acting_as=CFO))
    assert _acting_box(at) is None  # nobody chooses who they are
    [error] = [e.value for e in at.sidebar.error]
    assert error.startswith("**Read-only.**") and "identity.mode is not set." in error
    assert "Set `identity: {mode: local}` in settings.yaml" in error
    assert [t.value for t in at.title] == ["Data"]  # reading goes on
    # the upload form is shown disabled with the reason (the library refuses anyway: test_loads)
    assert any("Nobody may load data while the app is read-only" in i.value for i in at.info)
    assert [s.disabled for s in at.selectbox if s.key == "up_table"] == [True]


def test_an_invalid_identity_mode_is_read_only(store, config):
    _settings(config, "identity:\n  mode: open\n")
    at = _run(_page())
    assert _acting_box(at) is None
    assert any("identity.mode is 'open'" in e.value for e in at.sidebar.error)


# ---- sign-in (oidc) ----


def _signed_in(config: Path, user: dict, secrets: dict | None = None, page: str = "app.py"):
    _settings(config, OIDC_SETTINGS)
    at = _page(page, acting_as=CFO)
    at.secrets = AUTH if secrets is None else secrets
    at.user = user
    at.query_params["as"] = "claire.dubois@example.org"  # ignored behind sign-in
    return _run(at)


def _user(**extra) -> dict:
    return {
        "is_logged_in": True,
        "iss": ISSUER,
        "tid": "tenant-1",
        "email": "jonas.berg@example.org",
        "email_verified": True,
        "name": "Jonas",
        **extra,
    }


def test_a_verified_listed_person_acts_as_themselves(store, config):
    at = _signed_in(config, _user(email="Jonas.Berg@example.org"))
    assert any(f"Signed in as **{JONAS}**" in c.value for c in at.sidebar.caption)
    assert _acting_box(at) is None  # ?as= and the session's choice count for nothing
    assert [t.value for t in at.title] == ["CFO overview"]


def test_not_signed_in_sees_only_the_sign_in_button(store, config):
    at = _signed_in(config, {"is_logged_in": False})
    _nothing_shown(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in to see the dashboard." in _texts(at)


def _refused(at: AppTest, start: str) -> None:
    _nothing_shown(at)
    [refusal] = [e.value for e in at.error]
    assert refusal.startswith(start), refusal
    assert "@example.org" not in refusal


def test_an_unverified_e_mail_is_refused(store, config):
    at = _signed_in(config, _user(email_verified=False))
    _refused(at, "Your identity provider has not verified your e-mail address")
    assert [b.label for b in at.button] == ["Sign out"]


def test_another_issuer_is_refused(store, config):
    at = _signed_in(config, _user(iss="https://evil.example.net"))
    _refused(at, "Your sign-in came from 'https://evil.example.net', not from the identity")


def test_another_tenant_is_refused(store, config):
    _refused(_signed_in(config, _user(tid="tenant-2")), "Your account belongs to another")


def test_a_kelvin_sign_look_alike_is_not_the_person(store, config):
    # "\u212a" (KELVIN SIGN) lower()s to "k": "\u212aate" must not become kate@example.org
    (config / "people.yaml").write_text(
        (config / "people.yaml").read_text()
        + "  - email: kate@example.org\n    name: Kate Ng\n    department: finance\n"
        "    role: member\n"
    )
    _refused(
        _signed_in(config, _user(email="\u212aate@example.org")),
        "You are signed in, but not listed among the dashboard's people",
    )
    assert _signed_in(config, _user(email="KATE@example.org")).title


def test_an_unknown_person_cannot_read(store, config):
    _refused(
        _signed_in(config, _user(email="stranger@example.org")),
        "You are signed in, but not listed among the dashboard's people",
    )


def test_broken_sign_in_secrets_are_refused_never_local(store, config):
    broken = {"auth": {k: v for k, v in AUTH["auth"].items() if k != "cookie_secret"}}
    for secrets in ({}, {"other": {"x": 1}}, broken):
        at = _signed_in(config, _user(), secrets=secrets)
        _nothing_shown(at)
        [refusal] = [e.value for e in at.error]
        assert refusal.startswith("**Sign-in is not working**, so nobody can use the dashboard")
    assert "lacks cookie_secret" in refusal
