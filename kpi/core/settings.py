"""Where the store and the human-edited configuration live, and the shared settings in it.

Paths default to the repository layout and are overridden by `KPI_DB` and `KPI_CONFIG`
(a folder holding kpis.yaml, settings.yaml, sources.yaml), so tests and users can point
the same code at another store or configuration.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from kpi.core.currencies import CURRENCIES

ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    return Path(os.environ.get("KPI_CONFIG", ROOT / "config"))


def db_path() -> Path:
    return Path(os.environ.get("KPI_DB", ROOT / "data" / "kpi.duckdb"))


def lake_path(settings: Settings | None = None) -> Path | str:
    """The lake (`lake:` in settings.yaml, `KPI_LAKE`): a folder, a relative one taken from
    the repository's root as the store file's default is, or an object-store URL
    (`s3://bucket/prefix`, kept as text: kpi.store.object_lake)."""
    raw = (os.environ.get("KPI_LAKE") or (settings.lake if settings else Settings.lake)).strip()
    if _URL.match(raw):
        problem = lake_url_problem(raw)
        if problem:
            source = "KPI_LAKE" if os.environ.get("KPI_LAKE") else "lake"
            raise SettingsError(f"{source}: {problem}")
        return raw.rstrip("/")
    path = Path(raw).expanduser()
    return path if path.is_absolute() else ROOT / path


def kpis_path() -> Path:
    return config_dir() / "kpis.yaml"


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


def lake_url_problem(value: str) -> str | None:
    """Why a lake URL is refused (None: it is an s3:// URL, see README "Lake")."""
    scheme = value.split("://", 1)[0].lower()
    if scheme != "s3":
        return (
            f"a lake in an object store must be an s3:// URL (S3 or an S3-compatible store "
            f"such as MinIO); {value!r} is not one"
        )
    if not value.split("://", 1)[1].split("/", 1)[0]:
        return f"{value!r} names no bucket (s3://bucket/folder)"
    return None


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


SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server the digest is sent through (`digest.smtp` in settings.yaml). The
    password is never here: it comes from KPI_SMTP_PASSWORD or .streamlit/secrets.toml."""

    host: str
    port: int
    sender: str
    security: str = "starttls"  # one of SMTP_SECURITY; "none" only for a relay on this host
    username: str | None = None  # None: the server takes mail without signing in


def parse_digest_smtp(raw: object, where: str = "settings.yaml") -> SmtpSettings | None:
    """`digest.smtp` (host, port, sender, security, username); None when the block is absent
    (the digest then prints but cannot be sent); a wrong value is refused by name."""
    if raw is None:
        return None
    how = (
        f"{where}: digest.smtp must be a mapping such as {{host: smtp.example.org, port: 587, "
        "sender: kpi@example.org, security: starttls, username: kpi@example.org}"
    )
    if not isinstance(raw, dict):
        raise SettingsError(how)
    host = _text(raw, "host")
    if not host or any(c.isspace() for c in host):
        raise SettingsError(f"{how}; host is {raw.get('host')!r}")
    security = str(raw.get("security", "starttls")).strip().lower()
    if security not in SMTP_SECURITY:
        raise SettingsError(
            f"{where}: digest.smtp.security must be one of {', '.join(SMTP_SECURITY)}, "
            f"got {raw.get('security')!r}"
        )
    port = raw.get("port", 465 if security == "ssl" else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise SettingsError(f"{where}: digest.smtp.port must be a port number, got {port!r}")
    sender = _text(raw, "sender")
    if not sender or sender.count("@") != 1 or any(c.isspace() for c in sender):
        raise SettingsError(
            f"{where}: digest.smtp.sender must be the e-mail address digests come from, "
            f"got {raw.get('sender')!r}"
        )
    return SmtpSettings(host, port, sender, security, _text(raw, "username"))


@dataclass(frozen=True)
class Settings:
    fiscal: FiscalCalendar = field(default_factory=FiscalCalendar)
    reporting_currency: str = "EUR"
    obsolete_after_days: int = 180
    amber_tolerance: float = 0.05
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    # budget rates: (fiscal year number, currency, units of reporting currency per unit), the
    # one rate at which budgets, actuals and commitments of that year are compared; a
    # (year, currency) not listed takes the first rate of the fiscal year in fx_rates
    budget_rates: tuple[tuple[int, str, Decimal], ...] = ()
    # categories bought without purchase orders by policy (utilities, taxes, ...): their
    # spend leaves both sides of PO compliance; a tuple so that Settings stays hashable
    po_exempt_categories: tuple[str, ...] = ()
    # savings: how many months an initiative without an end date claims savings from its start
    savings_window_months: int = 12
    # freshness (the overview): data whose last day falls in a month is stale once the month
    # after it has ended more than this many days ago (last day 30 Oct, 7: stale from 8 Dec)
    stale_after_days: int = 7
    # the time zone (IANA name) in which tables and downloads show recorded moments, which
    # the store keeps in UTC (loaded_at, decided_at, ...)
    timezone: str = "Europe/Berlin"
    # the digest's mail server (`digest.smtp`); None: digests print but are not sent
    digest_smtp: SmtpSettings | None = None
    # the dashboard's address as readers open it (`digest.app_url`): digests link what waits
    # to the page that acts on it; None: no links
    digest_app_url: str | None = None
    # where KPIs are computed (`engine`, KPI_ENGINE): duckdb (embedded, one machine) or
    # spark (kpi.semantic.spark_engine, on the lake's tables)
    engine: str = "duckdb"
    # the Spark master (local[2], spark://host:7077) or Spark Connect URL (sc://host:15002)
    # the spark engine runs on (`spark`, KPI_SPARK_REMOTE)
    spark: str = "local[2]"
    # where the data lives (`store:`, KPI_STORE): "file" (one DuckDB file, the default) or
    # "lake" (a folder of Delta tables, README "Lake"), and the lake's folder (`lake:`)
    store: str = "file"
    lake: str = "data/lake"


STORE_KINDS = ("file", "lake")


_FISCAL_YEAR_KEY = re.compile(r"^FY(\d{4})$")


def parse_budget_rates(
    raw: object, reporting_currency: str, where: str = "settings.yaml"
) -> tuple[tuple[int, str, Decimal], ...]:
    """The `budget_rates` block ({FY2026: {USD: 0.92}}) as sorted (year, currency, rate)
    rows; a wrong key or rate is refused by name, so a budget is never compared at a
    rate nobody meant."""
    if raw is None:
        return ()
    how = "e.g. `budget_rates: {FY2026: {USD: 0.92}}` (units of the reporting currency per unit)"
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: budget_rates must be a mapping, {how}.")
    rows = []
    for year_key, rates in raw.items():
        year = _FISCAL_YEAR_KEY.match(str(year_key).strip())
        if year is None or not isinstance(rates, dict):
            raise SettingsError(
                f"{where}: budget_rates.{year_key} must be a fiscal year such as FY2026 "
                f"holding currency: rate pairs, {how}."
            )
        for code, rate in rates.items():
            currency = str(code).strip().upper()
            if not re.fullmatch(r"[A-Z]{3}", currency):
                raise SettingsError(
                    f"{where}: budget_rates.{year_key}.{code} is not a currency code (USD)."
                )
            if currency == reporting_currency:
                raise SettingsError(
                    f"{where}: budget_rates.{year_key}.{currency} is the reporting currency, "
                    "whose rate is always 1; remove it."
                )
            try:
                value = Decimal(str(rate))
            except InvalidOperation:
                value = Decimal(0)
            if isinstance(rate, bool) or not value.is_finite() or value <= 0:
                raise SettingsError(
                    f"{where}: budget_rates.{year_key}.{currency} must be a positive number "
                    f"(units of {reporting_currency} per {currency}), got {rate!r}."
                )
            rows.append((int(year.group(1)), currency, value))
    return tuple(sorted(rows))


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


def parse_po_exempt_categories(raw: object, where: str = "settings.yaml") -> tuple[str, ...]:
    """`compliance.po_exempt_categories`: category names as they appear in the data (none
    by default); anything but a list of names is refused with what to write instead."""
    if raw is None:
        return ()
    how = (
        f"{where}: compliance.po_exempt_categories must be a list of category names, "
        "e.g. [Utilities, Taxes and duties], or [] for none"
    )
    if not isinstance(raw, list):
        raise SettingsError(f"{how}; got {raw!r}")
    names = []
    for value in raw:
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{how}; {value!r} is not a category name")
        names.append(value.strip())
    return tuple(dict.fromkeys(names))


def parse_timezone(raw: object, where: str = "settings.yaml") -> str:
    """`timezone`: an IANA time-zone name such as Europe/Berlin (the default when unset);
    anything else is refused with what to write, so no time is shown in a zone nobody meant."""
    if raw is None:
        return Settings.timezone
    name = str(raw).strip() if isinstance(raw, str) else ""
    try:
        if name and name == name.strip("/") and ".." not in name:
            ZoneInfo(name)
            return name
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise SettingsError(
        f"{where}: timezone must be an IANA time-zone name such as Europe/Berlin, "
        f"Europe/London or America/New_York (the zone tables show times in), got {raw!r}"
    )


def parse_store(raw: object, where: str) -> str:
    """`store:` (file or lake); KPI_STORE, when set, wins over the file."""
    value = os.environ.get("KPI_STORE") or raw or Settings.store
    kind = str(value).strip().lower()
    if kind not in STORE_KINDS:
        source = "KPI_STORE" if os.environ.get("KPI_STORE") else f"{where}: store"
        raise SettingsError(
            f"{source} must be one of {', '.join(STORE_KINDS)} (file: one DuckDB file, lake: "
            f"a folder of Delta tables), got {value!r}"
        )
    return kind


ENGINES = ("duckdb", "spark")


def parse_engine(raw: dict, where: str = "settings.yaml") -> dict[str, str]:
    """`engine` and `spark`, each overridden by its environment variable (KPI_ENGINE,
    KPI_SPARK_REMOTE): a deployment switches engines without editing the file."""
    engine = os.environ.get("KPI_ENGINE") or raw.get("engine") or Settings.engine
    engine = str(engine).strip().lower()
    if engine not in ENGINES:
        raise SettingsError(
            f"{where}: engine must be one of {', '.join(ENGINES)} (KPI_ENGINE too), got {engine!r}"
        )
    spark = str(os.environ.get("KPI_SPARK_REMOTE") or raw.get("spark") or Settings.spark).strip()
    if not re.fullmatch(r"(local(\[(\d+|\*)\])?|(spark|sc|yarn|k8s)://\S+|yarn)", spark):
        raise SettingsError(
            f"{where}: spark must be a Spark master such as local[2] or spark://host:7077, "
            f"or a Spark Connect URL such as sc://host:15002 (KPI_SPARK_REMOTE too), "
            f"got {spark!r}"
        )
    return {"engine": engine, "spark": spark}


def load_settings(path: Path | None = None) -> Settings:
    """Read settings.yaml; a missing file means the defaults, a bad value is refused by name."""
    path = path or config_dir() / "settings.yaml"
    if not path.exists():
        engine = parse_engine({}, "the environment")
        return _spark_reads_the_lake(Settings(store=parse_store(None, "KPI_STORE"), **engine))
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
    currency = str(raw.get("reporting_currency", "EUR")).strip().upper()
    if currency not in CURRENCIES:
        raise SettingsError(
            f"{path}: reporting_currency must be a currency code such as EUR, USD or GBP "
            f"(ISO 4217, one the loaded files may use), got {raw.get('reporting_currency')!r}"
        )
    days = (raw.get("inventory") or {}).get("obsolete_after_days", 180)
    tol = (raw.get("scorecard") or {}).get("amber_tolerance", 0.05)
    if not isinstance(days, int) or days <= 0:
        raise SettingsError(
            f"{path}: inventory.obsolete_after_days must be a positive whole number"
        )
    identity = parse_identity(raw.get("identity"), str(path))
    budget_rates = parse_budget_rates(raw.get("budget_rates"), currency, str(path))
    compliance = raw.get("compliance") or {}
    if not isinstance(compliance, dict):
        raise SettingsError(f"{path}: compliance must be a mapping (po_exempt_categories: [...])")
    exempt = parse_po_exempt_categories(compliance.get("po_exempt_categories"), str(path))
    window = raw.get("savings_window_months", 12)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 120:
        raise SettingsError(
            f"{path}: savings_window_months must be a whole number of months from 1 to 120 "
            f"(how long an initiative without an end date claims savings), got {window!r}"
        )
    stale_after = raw.get("stale_after_days", 7)
    if (
        isinstance(stale_after, bool)
        or not isinstance(stale_after, int)
        or not 0 <= stale_after <= 60
    ):
        raise SettingsError(
            f"{path}: stale_after_days must be a whole number of days from 0 to 60 (how long "
            "after the end of the month following the data's last day the overview still calls "
            f"the data fresh), got {stale_after!r}"
        )
    timezone = parse_timezone(raw.get("timezone"), str(path))
    if "store" in raw and "storage" in raw and raw["store"] != raw["storage"]:
        raise SettingsError(
            f"{path}: store and storage name the same choice (file or lake) and differ: "
            f"keep one of them"
        )
    store = parse_store(raw.get("store", raw.get("storage")), str(path))
    lake = raw.get("lake", Settings.lake)
    if not isinstance(lake, str) or not lake.strip():
        raise SettingsError(
            f"{path}: lake must be the lake's folder (data/lake) or an s3:// URL, got {lake!r}"
        )
    if _URL.match(lake.strip()) and lake_url_problem(lake.strip()):
        raise SettingsError(f"{path}: lake: {lake_url_problem(lake.strip())}")
    digest = raw.get("digest") or {}
    if not isinstance(digest, dict):
        raise SettingsError(f"{path}: digest must be a mapping (smtp: {{host: ..., ...}})")
    digest_smtp = parse_digest_smtp(digest.get("smtp"), str(path))
    app_url = _text(digest, "app_url")
    if app_url is not None and (
        not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", app_url) or "'" in app_url
    ):
        raise SettingsError(
            f"{path}: digest.app_url must be the dashboard's address as readers open it, "
            f"such as https://kpi.example.org/, got {digest.get('app_url')!r}"
        )
    settings = Settings(
        FiscalCalendar(start, label),
        currency,
        days,
        float(tol),
        identity,
        budget_rates=budget_rates,
        po_exempt_categories=exempt,
        savings_window_months=window,
        stale_after_days=stale_after,
        timezone=timezone,
        digest_smtp=digest_smtp,
        digest_app_url=app_url.rstrip("/") if app_url else None,
        store=store,
        lake=lake.strip(),
        **parse_engine(raw, str(path)),
    )
    return _spark_reads_the_lake(settings, str(path))


def _spark_reads_the_lake(settings: Settings, where: str = "the environment") -> Settings:
    """`engine: spark` reads the lake's files itself: a lake in S3 needs Spark's S3
    connector (hadoop-aws), which PyPI's pyspark does not ship, so that pair is refused
    here, by name, rather than on the first figure a page asks for."""
    if settings.engine != "spark":
        return settings
    lake = lake_path(settings)
    if isinstance(lake, str):
        raise SettingsError(
            f"{where}: engine spark reads the lake's files itself, and the lake is in an "
            f"object store ({lake}): that needs Spark's S3 connector (hadoop-aws), which "
            "this installation does not ship. Use engine: duckdb with this lake, or a lake "
            "in a folder Spark can read"
        )
    return settings
