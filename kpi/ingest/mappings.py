"""Column mappings (config/sources.yaml): how an ERP export's columns become a canonical table's.

A mapping names the canonical table, the file column behind each canonical column, the
constants a file lacks, and how the file writes dates and numbers. Every problem in a
mappings file is collected and reported at once, each with the mapping's name and field.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

# yaml, the settings and the canonical tables (sqlglot) are imported where a mappings file
# is read: the reading child (kpi.ingest.sandbox) only needs the Mapping, and starts faster

_FIELDS = {
    "table",
    "columns",
    "constants",
    "date_format",
    "decimal_comma",
    "encoding",
    "sheet",
    "delimiter",
    "description",
}
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class MappingError(ValueError):
    """A mapping is missing, meant for another table, or holds a value that makes no sense."""


@dataclass(frozen=True)
class Mapping:
    """How one kind of export file maps onto one canonical table."""

    name: str
    table: str
    columns: dict[str, str] = field(default_factory=dict)  # canonical column -> file column
    constants: dict[str, str] = field(default_factory=dict)  # canonical column -> value
    date_format: str | None = None  # strftime format; ISO YYYY-MM-DD when None
    decimal_comma: bool = False  # "1.234,56"
    encoding: str | None = None  # UTF-8 (with or without BOM) when None
    sheet: str | int | None = None  # .xlsx: sheet name or 0-based index; the first when None
    delimiter: str | None = None  # CSV: "," (tab for .tsv) when None


def default_mappings_path() -> Path:
    from kpi.core.settings import config_dir

    return config_dir() / "sources.yaml"


def load_mappings(path: Path | None = None) -> dict[str, Mapping]:
    """Read every mapping in a sources file; raise MappingError listing all problems found."""
    import yaml

    path = Path(path) if path else default_mappings_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"{path}: no such mappings file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read it ({exc})") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML ({exc})") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("sources", {}), dict):
        raise MappingError(f"{path}: expected a top-level `sources:` with one entry per mapping")
    mappings: dict[str, Mapping] = {}
    problems: list[str] = []
    for name, body in (raw.get("sources") or {}).items():
        found = _mapping(str(name), body)
        if isinstance(found, Mapping):
            mappings[found.name] = found
        else:
            problems += [f"{path}: mapping '{name}': {p}" for p in found]
    if problems:
        raise MappingError("\n".join(problems))
    return mappings


def find_mapping(table: str, name: str | None = None, path: Path | None = None) -> Mapping | None:
    """The mapping to load `table` with: by name, or the only one in an explicit file.

    Without a name or a file, None: the file's columns are named as the canonical ones.
    """
    if name is None and path is None:
        return None
    mappings = load_mappings(path)
    where = Path(path) if path else default_mappings_path()
    if name is None:
        for_table = [m for m in mappings.values() if m.table == table]
        if len(for_table) != 1:
            names = ", ".join(m.name for m in for_table) or "none"
            raise MappingError(
                f"{where} holds {len(for_table)} mappings for table {table} ({names}); "
                "name the one to use with --mapping"
            )
        return for_table[0]
    if name not in mappings:
        names = ", ".join(sorted(mappings)) or "none"
        raise MappingError(f"{where} has no mapping named '{name}'; mappings available: {names}")
    mapping = mappings[name]
    if mapping.table != table:
        raise MappingError(
            f"mapping '{name}' is for table {mapping.table}, not {table}; "
            f"run `python -m kpi load {mapping.table} ...` or choose another mapping"
        )
    return mapping


def _mapping(name: str, body: Any) -> Mapping | list[str]:
    """One mapping from its YAML body, or the list of what is wrong with it."""
    from kpi.store.schema import TABLES

    if not isinstance(body, dict):
        return ["expected fields such as table:, columns:, constants:"]
    problems = [
        f"unknown field '{k}' (fields: {', '.join(sorted(_FIELDS))})"
        for k in body
        if k not in _FIELDS
    ]
    table = body.get("table")
    if table not in TABLES:
        problems.append(f"table '{table}' is not a canonical table ({', '.join(TABLES)})")
        return problems
    canonical = TABLES[table].column_names
    columns = _text_dict(body.get("columns"), "columns", canonical, problems)
    constants = _text_dict(body.get("constants"), "constants", canonical, problems)
    for both in sorted(set(columns) & set(constants)):
        problems.append(f"column '{both}' is both mapped and a constant; keep one")
    date_format = _date_format(body.get("date_format"), problems)
    decimal_comma = body.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool):
        problems.append(f"decimal_comma must be true or false, not {decimal_comma!r}")
    encoding = _encoding(body.get("encoding"), problems)
    sheet = body.get("sheet")
    if sheet is not None and not isinstance(sheet, (str, int)):
        problems.append(f"sheet must be a sheet name or a 0-based number, not {sheet!r}")
    delimiter = _delimiter(body.get("delimiter"), problems)
    if problems:
        return problems
    return Mapping(
        name, table, columns, constants, date_format, decimal_comma, encoding, sheet, delimiter
    )


def _text_dict(value: Any, what: str, canonical: list[str], problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{what} must map canonical column names to values")
        return {}
    out: dict[str, str] = {}
    for key, v in value.items():
        if key not in canonical:
            problems.append(
                f"{what}: '{key}' is not a column of this table (columns: {', '.join(canonical)})"
            )
        elif v is None or isinstance(v, (dict, list)):
            problems.append(f"{what}: '{key}' needs a single value, not {v!r}")
        else:
            out[str(key)] = v.isoformat() if isinstance(v, date) else _scalar_text(v)
    return out


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _date_format(value: Any, problems: list[str]) -> str | None:
    if value is None:
        return None

    def has(*codes: str) -> bool:
        return isinstance(value, str) and any(c in value for c in codes)

    if not (has("%Y", "%y") and has("%m", "%b", "%B") and has("%d", "%e")):
        problems.append(
            f"date_format must be a strftime format with day, month and year such as "
            f"'%d.%m.%Y', not {value!r}"
        )
        return None
    return value


def _encoding(value: Any, problems: list[str]) -> str | None:
    if value is None:
        return None
    if problem := encoding_problem(str(value)):
        problems.append(problem)
        return None
    return codecs.lookup(str(value)).name


TEXT_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16")  # named in messages


def encoding_problem(name: str) -> str | None:
    """Why `name` cannot be a file's text encoding, or None. Python also knows codecs that
    unpack bytes (zlib_codec, bz2_codec, base64_codec) or turn text into text (rot13): a
    mapping naming one would make a small file unpack to any size while it is "decoded"."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        return f"encoding '{name}' is not one Python knows (e.g. utf-8, cp1252, latin-1)"
    if not getattr(codec, "_is_text_encoding", True):
        return (
            f"encoding '{name}' is not a text encoding (Python's {codec.name} codec "
            f"transforms bytes or text); use one such as {', '.join(TEXT_ENCODINGS)}"
        )
    return None


def _delimiter(value: Any, problems: list[str]) -> str | None:
    if value is None:
        return None
    text = _DELIMITER_NAMES.get(str(value).lower(), str(value))
    if len(text) != 1 or text in '"\r\n':
        problems.append(f"delimiter must be one character such as ';' or 'tab', not {value!r}")
        return None
    return text
