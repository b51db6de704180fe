"""Where the store and the human-edited configuration live, and the shared settings in it.

Paths default to the repository layout and are overridden by `KPI_DB` and `KPI_CONFIG`
(a folder holding kpis.yaml, settings.yaml, sources.yaml), so tests and users can point
the same code at another store or configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    return Path(os.environ.get("KPI_CONFIG", ROOT / "config"))


def db_path() -> Path:
    return Path(os.environ.get("KPI_DB", ROOT / "data" / "kpi.duckdb"))


def kpis_path() -> Path:
    return config_dir() / "kpis.yaml"


class SettingsError(ValueError):
    """settings.yaml is unreadable or holds a value that makes no sense."""


@dataclass(frozen=True)
class FiscalCalendar:
    year_start_month: int = 1
    label_year: str = "end"  # "end" or "start"

    @property
    def year_offset(self) -> int:
        """Add to the calendar year of the shifted date to get the fiscal-year label."""
        return 1 if (self.year_start_month > 1 and self.label_year == "end") else 0


IDENTITY_MODES = ("local", "oidc")
HOW_TO_SET_IDENTITY = (
    "Set `identity: {mode: local}` in settings.yaml to use the app on your own computer, or "
    "`mode: oidc` with `identity.oidc.issuer` behind sign-in (README, 'Sign-in'). Until "
    "then the app is read-only."
)


@dataclass(frozen=True)
class OidcSettings:
    """What a signed-in person's token must say: who issued it (and, for a multi-tenant
    identity provider, which tenant), and the one e-mail domain whose unlisted people may
    read as viewers (none: only people.yaml)."""

    issuer: str = ""
    tenant: str | None = None
    allowed_domain: str | None = None


@dataclass(frozen=True)
class IdentitySettings:
    """How the app learns who acts: `local` (the person chooses, on their own computer),
    `oidc` (sign-in) or None when settings.yaml does not say or says something invalid;
    then `problem` says what to set and the app is read-only, never local."""

    mode: str | None = None
    oidc: OidcSettings = field(default_factory=OidcSettings)
    problem: str | None = "identity.mode is not set. " + HOW_TO_SET_IDENTITY


@dataclass(frozen=True)
class Settings:
    fiscal: FiscalCalendar = field(default_factory=FiscalCalendar)
    reporting_currency: str = "EUR"
    obsolete_after_days: int = 180
    amber_tolerance: float = 0.05
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    # savings: how many months an initiative without an end date claims savings from its start
    savings_window_months: int = 12


def _text(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    return (str(value).strip() or None) if value is not None else None


def parse_identity(raw: object, where: str = "settings.yaml") -> IdentitySettings:
    """The `identity` section; anything missing or invalid becomes a read-only setting whose
    `problem` names the key (a mistake here must never open the app to choose-who-you-are)."""

    def broken(message: str) -> IdentitySettings:
        return IdentitySettings(None, OidcSettings(), f"{where}: {message} {HOW_TO_SET_IDENTITY}")

    if raw is None:
        return broken("identity.mode is not set.")
    if not isinstance(raw, dict):
        return broken("identity must be a mapping with a `mode` key.")
    mode = raw.get("mode")
    if mode not in IDENTITY_MODES:
        got = "is not set" if mode is None else f"is {mode!r}"
        return broken(f"identity.mode {got}; it must be one of {', '.join(IDENTITY_MODES)}.")
    if mode == "local":
        return IdentitySettings("local", OidcSettings(), None)
    oidc = raw.get("oidc")
    if not isinstance(oidc, dict):
        return broken("identity.oidc must be a mapping with at least `issuer` (mode is oidc).")
    issuer = _text(oidc, "issuer")
    if not issuer or not issuer.startswith("https://"):
        return broken(
            "identity.oidc.issuer must be the identity provider's issuer URL (https://…), "
            f"the `iss` its tokens carry; got {oidc.get('issuer')!r}."
        )
    domain = _text(oidc, "allowed_domain")
    if domain is not None and (not domain.isascii() or "@" in domain or "." not in domain):
        return broken(
            f"identity.oidc.allowed_domain must be a plain domain such as example.org; got "
            f"{domain!r}."
        )
    return IdentitySettings(
        "oidc",
        OidcSettings(issuer, _text(oidc, "tenant"), domain.lower() if domain else None),
        None,
    )


def load_settings(path: Path | None = None) -> Settings:
    """Read settings.yaml; a missing file means the defaults, a bad value is refused by name."""
    path = path or config_dir() / "settings.yaml"
    if not path.exists():
        return Settings()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML ({exc})") from exc
    fc = raw.get("fiscal_calendar") or {}
    start = fc.get("year_start_month", 1)
    label = fc.get("label_year", "end")
    if not isinstance(start, int) or not 1 <= start <= 12:
        raise SettingsError(
            f"{path}: fiscal_calendar.year_start_month must be 1..12, got {start!r}"
        )
    if label not in ("end", "start"):
        raise SettingsError(f"{path}: fiscal_calendar.label_year must be 'end' or 'start'")
    currency = str(raw.get("reporting_currency", "EUR")).upper()
    days = (raw.get("inventory") or {}).get("obsolete_after_days", 180)
    tol = (raw.get("scorecard") or {}).get("amber_tolerance", 0.05)
    if not isinstance(days, int) or days <= 0:
        raise SettingsError(
            f"{path}: inventory.obsolete_after_days must be a positive whole number"
        )
    identity = parse_identity(raw.get("identity"), str(path))
    window = raw.get("savings_window_months", 12)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 120:
        raise SettingsError(
            f"{path}: savings_window_months must be a whole number of months from 1 to 120 "
            f"(how long an initiative without an end date claims savings), got {window!r}"
        )
    return Settings(
        FiscalCalendar(start, label),
        currency,
        days,
        float(tol),
        identity,
        savings_window_months=window,
    )
