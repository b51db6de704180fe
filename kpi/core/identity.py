"""Who a session acts as: the decisions that need no Streamlit, so they are unit-tested.

Two modes (settings.yaml `identity.mode`): `local`, where the person chooses from
people.yaml, allowed only for a browser on this very computer (the request's Host is a
loopback name and no proxy stood in between); and `oidc`, where the signed-in person's
token must carry a verified e-mail from the pinned issuer (and tenant), matched exactly to
people.yaml. Anything unexpected refuses; nothing falls back to local mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kpi.core.people import Person, find_person, normalise_email
from kpi.core.settings import OidcSettings

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Headers a reverse proxy, tunnel or port forward adds: their presence means the browser is
# not (only) on this computer, whatever the Host header says.
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "forwarded", "x-real-ip")

LOCAL_ONLY = (
    "Local mode (no sign-in) only serves a browser on this computer, opened at localhost "
    "or 127.0.0.1 with the app's port. To share the dashboard, set it up "
    "behind sign-in: `identity: {mode: oidc}` in config/settings.yaml and the [auth] section "
    "of .streamlit/secrets.toml (README, 'Sign-in')."
)


class IdentityRefused(Exception):
    """The session may not use the app as anyone; the message says why and what to do."""


def host_is_local(host: str | None) -> bool:
    """A Host header naming this computer: localhost, 127.0.0.1 or [::1], with any port."""
    if not host:
        return False
    host = host.strip()
    if host.startswith("["):  # an IPv6 literal: [::1] or [::1]:8501
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return False
        has_port, port = bool(rest), rest[1:]
    else:
        name, colon, port = host.partition(":")
        has_port = bool(colon)
    if has_port and not (port.isascii() and port.isdigit()):
        return False
    return name.isascii() and name.lower() in LOCAL_HOSTS


def local_refusal(headers: Mapping[str, str], server_address: str) -> str | None:
    """Why a local-mode session is refused (None: it comes from this computer).

    The server must listen on a loopback address, and the request itself must show it
    came from here: a same-host reverse proxy, an SSH or editor port forward and a tunnel
    all reach a server bound to 127.0.0.1, but they add a proxy header or bring a foreign
    Host.
    """
    if server_address.strip("[]") not in LOCAL_HOSTS:
        return (
            f"The app listens on {server_address or 'every address'!r}, so other computers "
            f"can reach it. Start it bound to 127.0.0.1 (`make run` does). {LOCAL_ONLY}"
        )
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    proxied = [h for h in PROXY_HEADERS if h in lowered]
    if proxied:
        return (
            f"This request came through a proxy ({', '.join(proxied)}), so it may come from "
            f"another computer. {LOCAL_ONLY}"
        )
    host = lowered.get("host")
    if not host_is_local(host):
        shown = repr(host) if host else "no Host header"
        return f"This request is addressed to {shown}, not to this computer. {LOCAL_ONLY}"
    return None


def chosen_person(email: str | None, people: Iterable[Person]) -> Person | None:
    """The person a `?as=` link names, when they are in people.yaml (else nobody)."""
    return find_person(email, people) if email else None


def _claim_is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def signed_in_person(
    claims: Mapping[str, object], oidc: OidcSettings, people: Iterable[Person]
) -> Person:
    """The person a sign-in token names, or IdentityRefused.

    The token must come from the pinned issuer (and tenant), carry a verified e-mail, and
    that e-mail must match people.yaml exactly after ASCII-only normalisation (an address
    with any non-ASCII character matches nobody: a Kelvin sign is not a "k"). Someone not
    listed reads as a viewer only when `allowed_domain` names their domain.
    """
    issuer = str(claims.get("iss") or "")
    if not issuer or issuer.rstrip("/") != oidc.issuer.rstrip("/"):
        raise IdentityRefused(
            f"Your sign-in came from {issuer or 'an unnamed issuer'!r}, not from the identity "
            f"provider this dashboard trusts ({oidc.issuer}). Sign in with your work account."
        )
    if oidc.tenant is not None and str(claims.get("tid") or "") != oidc.tenant:
        raise IdentityRefused(
            "Your account belongs to another organisation (tenant) than the one this "
            "dashboard trusts. Sign in with your work account."
        )
    raw_email = str(claims.get("email") or "")
    if not raw_email:
        raise IdentityRefused(
            "Your sign-in carries no e-mail address, so the dashboard cannot tell who you "
            "are. Ask the administrator to release the `email` claim."
        )
    if not _claim_is_true(claims.get("email_verified")):
        raise IdentityRefused(
            "Your identity provider has not verified your e-mail address (email_verified), "
            "so the dashboard cannot tell who you are. Verify it there and sign in again."
        )
    person = find_person(raw_email, people)
    if person is not None:
        return person
    email = normalise_email(raw_email)
    domain = email.rpartition("@")[2] if email else None
    if email and oidc.allowed_domain and domain == oidc.allowed_domain:
        name = str(claims.get("name") or "").strip() or email.partition("@")[0]
        return Person(email, name, "none", "viewer")
    raise IdentityRefused(
        "You are signed in, but not listed among the dashboard's people (config/people.yaml), "
        "so you may not read it. Ask the CFO's office to add you."
    )
