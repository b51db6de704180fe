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


@dataclass(frozen=True)
class Settings:
    fiscal: FiscalCalendar = field(default_factory=FiscalCalendar)
    reporting_currency: str = "EUR"
    obsolete_after_days: int = 180
    amber_tolerance: float = 0.05


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
    return Settings(FiscalCalendar(start, label), currency, days, float(tol))
