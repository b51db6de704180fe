"""The KPI catalogue: config/kpis.yaml read into typed definitions, every mistake reported.

The YAML file is the contract finance and procurement both edit. It is read with
ruamel.yaml's round-trip loader, which knows the line of every key, and checked by small
rules that each return issues (line, KPI id, field, what is wrong, what to do). All issues
are collected before anything is reported: `check_file` returns them, `load_definitions`
raises them together, `python -m kpi check` prints them. What an entry becomes once checked
(`KpiDefinition`, `Issue`) is in kpi.semantic.kpi_definition.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml as pyyaml
from pydantic import VERSION as pydantic_version
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from sqlglot import exp

from kpi.core.kept import Kept
from kpi.core.settings import Settings, SettingsError, kpis_path, load_settings
from kpi.semantic.formula_guard import FormulaError, guard_formula
from kpi.semantic.kpi_definition import (
    FIELDS,
    DefinitionsError,
    FormulaTree,
    Issue,
    KpiDefinition,
    either,
    shown_value,
)
from kpi.store.views import view_catalog

Catalog = Mapping[str, Mapping[str, str]]
TOP_LEVEL_KEYS = ("version", "kpis")


# ---------------------------------------------------------------------------------------
# Reading and checking
# ---------------------------------------------------------------------------------------


def check_file(path: Path, settings: Settings | None = None) -> list[Issue]:
    """Every problem in a definitions file (an empty list when it is fine)."""
    return _read(Path(path), settings)[1]


def load_definitions(
    path: Path | None = None, settings: Settings | None = None
) -> list[KpiDefinition]:
    """The KPIs of the definitions file (default: KPI_CONFIG/kpis.yaml), or DefinitionsError
    listing every problem in it."""
    definitions, issues = _read(Path(path) if path else kpis_path(), settings)
    if issues:
        raise DefinitionsError(issues)
    return definitions


def _read(path: Path, settings: Settings | None) -> tuple[list[KpiDefinition], list[Issue]]:
    shown = str(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            return [], [_too_big(shown, f"is {path.stat().st_size:,} bytes")]
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], [Issue(shown, None, None, None, "file not found", "check the path")]
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        problem = f"cannot read the file: it is not UTF-8 text (byte {byte:#04x} at {exc.start:,})"
        hint = "save it as UTF-8, or restore it if it is not a YAML file at all"
        return [], [Issue(shown, None, None, None, problem, hint)]
    except OSError as exc:
        return [], [Issue(shown, None, None, None, f"cannot read the file: {exc}")]
    key = _cache_key(shown, text, settings)
    if key is None:  # settings.yaml is broken: checked as before, without the cache
        return _check_text(text, shown, settings)
    hit = _CACHE.get(key)
    if hit is None:
        found = _remembered_check(text, shown, settings or load_settings(), key)
        hit = (tuple(found[0]), tuple(found[1]))
        _CACHE.put(key, hit)
    # a new list each time: a caller may add, drop or reorder (the models are frozen)
    return list(hit[0]), list(hit[1])


# Checked files by (path shown, sha256 of the text, the settings): every page reads the
# file, and checking it (YAML, the view catalogue, every formula) costs a second or more,
# while the file changes only when someone saves it. The same text and settings give the
# same definitions, so the cache is keyed on what was read, never on the file's time. The
# definitions are frozen models, shared (their formula trees too: the measures' split and
# the compiler's caches are kept per tree; nothing changes a tree in place).
_CACHE: Kept[tuple[str, str, str], tuple[tuple[KpiDefinition, ...], tuple[Issue, ...]]]
_CACHE = Kept(16)


def _cache_key(shown: str, text: str, settings: Settings | None) -> tuple[str, str, str] | None:
    """What a check's result depends on: the path shown in its issues, the text, and the
    settings (settings.yaml's when none are given; None when that file is broken)."""
    if settings is None:
        try:
            settings = load_settings()
        except (SettingsError, OSError):
            return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return shown, digest, repr(settings)


def _remembered_check(
    text: str, shown: str, settings: Settings, key: tuple[str, str, str]
) -> tuple[list[KpiDefinition], list[Issue]]:
    """`_check_text`'s answer, kept on disk (kpi.store.catalog_cache) for a file without
    problems: a new process (each `kpi` command) reads the checked definitions back, in a
    tenth of the time of reading the YAML and guarding every formula again. Kept under the
    same key as the in-process cache, the code and pydantic's version; each entry is
    validated again on the way back (and refused if it changed since it was written), and
    its formula's tree rebuilt as the guard returned it when first asked for
    (formula_guard.accepted_tree, kpi_definition.FormulaTree). A file with problems is
    checked each time."""
    from kpi.store import catalog_cache

    found: tuple[list[KpiDefinition], list[Issue]] | None = None  # checked now, or read back

    def check() -> dict[str, Any] | None:
        nonlocal found
        found = _check_text(text, shown, settings)
        if found[1]:
            return None  # not kept: checked each time
        entries = [{**k.model_dump(mode="json"), "line": k.line} for k in found[0]]
        return {"definitions": entries, "digest": _digest(entries)}

    def valid(value: object) -> bool:
        nonlocal found
        try:
            entries = value["definitions"]  # type: ignore[index]
            if value["digest"] != _digest(entries):  # type: ignore[index]
                return False  # edited by hand or damaged: checked again
            found = _rebuilt(entries, settings), []
        except (ValidationError, KeyError, TypeError, ValueError, IndexError):
            return False  # kept by other code, or tampered with: checked again
        return True

    catalog_cache.remembered("definitions", ("definitions", *key, pydantic_version), check, valid)
    assert found is not None
    return found


def _digest(entries: object) -> str:
    """What the kept entries were when written: their formulas are not guarded again when
    read back (the trees are parsed when first needed), so an entry changed since is refused."""
    text = json.dumps(entries, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rebuilt(entries: list[dict[str, Any]], settings: Settings) -> list[KpiDefinition]:
    """The checked definitions from their kept form (see _remembered_check): each validated
    again, its formula's tree made when first asked for, as the guard made it."""
    catalog = view_catalog(settings)
    out = []
    for entry in entries:
        model = KpiDefinition.model_validate(entry)
        columns = tuple(catalog[model.source])  # an unknown view: KeyError, checked again
        out.append(model.with_tree(FormulaTree(recipe=(model.formula, columns))))
    return out


def clear_cache() -> None:
    """Forget every checked file (tests; the cache is keyed on content, so never needed)."""
    _CACHE.clear()


def _check_text(
    text: str, shown: str, settings: Settings | None
) -> tuple[list[KpiDefinition], list[Issue]]:
    """The definitions and issues of a definitions file's text (`shown`: its path).

    A file is first read the fast way (`_fast_load`); if that finds any problem at all, it
    is read again the round-trip way, whose messages and lines are the ones reported."""
    fast = _fast_load(text)
    if fast is not None:
        found = _check_loaded(fast, shown, settings)
        if not found[1]:
            return found
    return _check_loaded(_load_yaml(text, shown), shown, settings)


def _check_loaded(
    loaded: tuple[Any, list[Issue], list[Issue]], shown: str, settings: Settings | None
) -> tuple[list[KpiDefinition], list[Issue]]:
    data, issues, duplicates = loaded
    if data is None:
        return [], issues + duplicates
    entries, shape = _entries(data, shown)
    issues += shape + _attribute(duplicates, entries)
    catalog = view_catalog(settings or load_settings())
    definitions: list[KpiDefinition] = []
    for entry in entries:
        model, found = _check_entry(entry, shown, catalog)
        issues += found
        if model is not None and not found:
            definitions.append(model)
    issues += _duplicate_ids(entries, shown)
    issues.sort(key=lambda i: i.line or 0)
    return definitions, issues


# ---- YAML ---------------------------------------------------------------------------------


class _TooBig(Exception):
    """The document expands (through aliases) beyond MAX_VALUES: not constructed."""


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps an impossible date ('2026-02-30') as text, so it is
    reported at its line by validation instead of failing the whole file; and that checks
    the composed document for an alias bomb before building it, keeping the node for the
    duplicate-key check, so that the file is parsed once."""

    node: Node | None = None

    def get_single_data(self) -> Any:
        node = self.composer.get_single_node()
        self.node = node
        if node is None:
            return None
        if expands_beyond(node, MAX_VALUES):
            raise _TooBig
        return self.construct_document(node)

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError:
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = True  # found and reported by _duplicate_keys, with both lines
    return yaml


def _load_yaml(text: str, shown: str) -> tuple[Any, list[Issue], list[Issue]]:
    """The loaded document (None if unusable), issues that stop reading, duplicate keys."""
    yaml = _yaml()
    try:
        data = yaml.load(io.StringIO(text))  # composed once: see _Constructor
    except _TooBig:
        return None, [_too_big(shown, "expands (through YAML aliases) to too many values")], []
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = f" at column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unreadable"
        if exc.context and exc.context_mark and exc.problem:
            problem += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        hint = "check indentation, colons and quotes near this line"
        return (
            None,
            [Issue(shown, line, None, None, f"not valid YAML{column}: {problem}", hint)],
            [],
        )
    except YAMLError as exc:
        return None, [Issue(shown, None, None, None, f"not valid YAML: {exc}")], []
    node = yaml.constructor.node
    duplicates = _duplicate_keys(node, shown) if node is not None else []
    if data is None:
        empty = Issue(shown, None, None, None, "the file is empty", "start it with 'kpis:'")
        return None, [empty], duplicates
    return data, [], duplicates


def _fast_load(text: str) -> tuple[Any, list[Issue], list[Issue]] | None:
    """The document as `_load_yaml` reads it, composed by libyaml (PyYAML's C parser, ten
    times faster than ruamel's pure-Python one: a cold page spent most of a second on it)
    and built by the same round-trip constructor, so the values, their types (YAML 1.2:
    ruamel's resolver decides each plain scalar's type) and the line of every key are
    the same. None, and the caller reads it the round-trip way, for anything but a plain
    document: tags, directives, merge keys, tabs (libyaml takes a tab where YAML 1.2
    refuses it), whatever libyaml refuses or cannot build."""
    if not _FAST_YAML or _NOT_PLAIN.search(text) or _DIRECTIVE.search(text):
        return None
    try:
        composed = pyyaml.compose(text, Loader=pyyaml.CSafeLoader)
        if composed is None:
            return None
        yaml = _yaml()
        node = _ruamel_node(composed, yaml.resolver, {})
        if expands_beyond(node, MAX_VALUES):
            return None
        data = yaml.constructor.construct_document(node)
    except Exception:  # libyaml's or the constructor's refusal: the round trip says why
        return None
    if data is None:
        return None
    return data, [], _duplicate_keys(node, "")


def _ruamel_node(node: Any, resolver: Any, seen: dict[int, Node]) -> Node:
    """A libyaml node as ruamel's node of the same value, position and style, its tag
    resolved by ruamel (a node reached through an alias is converted once, and shared)."""
    done = seen.get(id(node))
    if done is not None:
        return done
    start, end = node.start_mark, node.end_mark
    if isinstance(node, pyyaml.ScalarNode):
        style = node.style or None  # libyaml writes a plain scalar's style as ''
        implicit = (True, False) if style is None else (False, True)
        tag = resolver.resolve(ScalarNode, node.value, implicit)
        out: Node = ScalarNode(tag, node.value, start, end, style=style)
        seen[id(node)] = out
        return out
    if isinstance(node, pyyaml.SequenceNode):
        tag = resolver.resolve(SequenceNode, None, (True, False))
        out = SequenceNode(tag, [], start, end, flow_style=node.flow_style)
        seen[id(node)] = out
        out.value = [_ruamel_node(item, resolver, seen) for item in node.value]
        return out
    tag = resolver.resolve(MappingNode, None, (True, False))
    out = MappingNode(tag, [], start, end, flow_style=node.flow_style)
    seen[id(node)] = out
    out.value = [
        (_ruamel_node(k, resolver, seen), _ruamel_node(v, resolver, seen)) for k, v in node.value
    ]
    return out


_FAST_YAML = getattr(pyyaml, "__with_libyaml__", False)
_NOT_PLAIN = re.compile(r"!|<<|\t")
_DIRECTIVE = re.compile(r"^%", re.MULTILINE)


# A definitions file is a few hundred KPIs at most. Far bigger ones (a log pasted in, or
# aliases nested in aliases: a "billion laughs" file) would take minutes to check, and
# every page checks the file.
MAX_FILE_BYTES = 2_000_000
MAX_VALUES = 200_000


def _too_big(shown: str, what: str) -> Issue:
    return Issue(
        shown,
        None,
        None,
        None,
        f"not a KPI definitions file: it {what} (the limit is {MAX_FILE_BYTES:,} bytes "
        f"and {MAX_VALUES:,} values)",
        "restore the file from version control or a backup",
    )


def expands_beyond(root: Node, limit: int) -> bool:
    """Whether the document has more than `limit` values once aliases are expanded;
    counts at most `limit + 1`, so a bomb is found in milliseconds."""
    stack, seen = [root], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            stack.extend(part for pair in node.value for part in pair)
    return False


def _duplicate_keys(root: Node, shown: str) -> list[Issue]:
    issues: list[Issue] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        issues.append(
                            Issue(
                                shown,
                                line,
                                None,
                                str(key.value),
                                f"'{key.value}' is written twice in one mapping "
                                f"(lines {seen[key.value]} and {line})",
                                "keep one of them",
                            )
                        )
                    else:
                        seen[key.value] = line
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return issues


def _entries(data: Any, shown: str) -> tuple[list[CommentedMap], list[Issue]]:
    """The KPI entries under `kpis:`, and issues with the file's overall shape."""
    hint = "the file is a mapping: an optional 'version: 1' and 'kpis:' with a list of KPIs"
    if isinstance(data, CommentedSeq):
        return [], [
            Issue(shown, 1, None, None, "the list of KPIs must sit under a 'kpis:' key", hint)
        ]
    if not isinstance(data, CommentedMap):
        return [], [
            Issue(shown, 1, None, None, f"expected 'kpis:', found {shown_value(data)}", hint)
        ]
    issues = [
        Issue(
            shown,
            _key_line(data, key),
            None,
            str(key),
            f"unknown top-level key '{key}'",
            _did_you_mean(str(key), TOP_LEVEL_KEYS),
        )
        for key in data
        if key not in TOP_LEVEL_KEYS
    ]
    version = data.get("version")
    if "version" in data and (isinstance(version, bool) or not isinstance(version, int)):
        issues.append(
            Issue(
                shown,
                _key_line(data, "version"),
                None,
                "version",
                f"version is a whole number, got {shown_value(version)}",
            )
        )
    kpis = data.get("kpis")
    if "kpis" not in data:
        issues.append(Issue(shown, 1, None, "kpis", "no 'kpis:' list in the file", hint))
        return [], issues
    if kpis is None:
        return [], issues  # `kpis:` with nothing under it: no KPIs yet
    if not isinstance(kpis, CommentedSeq):
        issues.append(
            Issue(
                shown,
                _key_line(data, "kpis"),
                None,
                "kpis",
                f"'kpis' must be a list of KPIs ('- id: ...'), found {shown_value(kpis)}",
            )
        )
        return [], issues
    entries = []
    for i, entry in enumerate(kpis):
        if isinstance(entry, CommentedMap):
            entries.append(entry)
        else:
            issues.append(
                Issue(
                    shown,
                    kpis.lc.item(i)[0] + 1,
                    None,
                    None,
                    f"KPI #{i + 1} must be a mapping of fields (id: ..., name: ...), "
                    f"found {shown_value(entry)}",
                )
            )
    return entries, issues


# ---- one entry ----------------------------------------------------------------------------


_Report = Callable[..., Issue]  # issue(field, line, message, hint=None) for one entry


def _check_entry(
    entry: CommentedMap, shown: str, catalog: Catalog
) -> tuple[KpiDefinition | None, list[Issue]]:
    kpi_id = entry.get("id") if isinstance(entry.get("id"), str) else None
    line = entry.lc.line + 1

    def issue(field: str | None, where: int | None, message: str, hint: str | None = None) -> Issue:
        return Issue(shown, where or line, kpi_id, field, message, hint)

    issues = [
        issue(
            str(key),
            _key_line(entry, key),
            f"unknown field '{key}'",
            _did_you_mean(str(key), FIELDS),
        )
        for key in entry
        if key not in FIELDS
    ]
    model = None
    try:
        data = {k: v for k, v in entry.items() if k in FIELDS}
        model = KpiDefinition.model_validate({**data, "line": line})
    except ValidationError as exc:
        issues += [_from_pydantic(err, entry, issue) for err in exc.errors()]
    tree, found = _view_issues(entry, catalog, issue)
    issues += found + _approval_issues(entry, issue)
    if model is None or issues:
        return None, issues
    return model.with_tree(FormulaTree(tree)), []


def _view_issues(
    entry: CommentedMap, catalog: Catalog, issue: _Report
) -> tuple[exp.Expression | None, list[Issue]]:
    """Source, period_by, dimensions and formula against the view catalogue; the guarded
    formula tree when the formula is accepted."""
    source = entry.get("source")
    found: list[Issue] = []
    columns: Mapping[str, str] | None = None
    if isinstance(source, str) and source in catalog:
        columns = catalog[source]
        found += _period_by_issues(entry, source, columns, issue)
        found += _dimension_issues(entry, source, columns, issue)
        found += _slice_issues(entry, source, columns, issue)
    elif isinstance(source, str):
        hint = _did_you_mean(source, catalog, "views")
        found.append(issue("source", _key_line(entry, "source"), f"unknown view '{source}'", hint))
    formula = entry.get("formula")
    if not isinstance(formula, str):
        return None, found
    try:  # without a known view, everything but the column names is still checked
        view = source if columns is not None else None
        return guard_formula(formula, columns, view=view), found
    except FormulaError as exc:
        where = _key_line(entry, "formula")
        return None, found + [issue("formula", where, problem) for problem in exc.problems]


def _period_by_issues(
    entry: CommentedMap, view: str, columns: Mapping[str, str], issue: _Report
) -> list[Issue]:
    period_by = entry.get("period_by")
    if not isinstance(period_by, str):
        return []
    dates = [c for c, t in columns.items() if str(t).upper() == "DATE"]
    hint = "date columns of this view: " + ", ".join(dates)
    where = _key_line(entry, "period_by")
    if period_by not in columns:
        close = difflib.get_close_matches(period_by, dates, n=3)
        if close:
            hint = f"did you mean {either(close)}?"
        return [issue("period_by", where, f"unknown column '{period_by}' in view '{view}'", hint)]
    if str(columns[period_by]).upper() != "DATE":
        message = f"'{period_by}' in view '{view}' is {columns[period_by]}, not a date"
        return [issue("period_by", where, message, hint)]
    return []


def _dimension_issues(
    entry: CommentedMap, view: str, columns: Mapping[str, str], issue: _Report
) -> list[Issue]:
    dims = entry.get("dimensions")
    if not isinstance(dims, CommentedSeq):
        return []
    found = []
    for i, dim in enumerate(dims):
        if isinstance(dim, str) and dim not in columns:
            found.append(
                issue(
                    "dimensions",
                    dims.lc.item(i)[0] + 1,
                    f"unknown column '{dim}' in view '{view}'",
                    _did_you_mean(dim, columns, "columns"),
                )
            )
    return found


def _slice_issues(
    entry: CommentedMap, view: str, columns: Mapping[str, str], issue: _Report
) -> list[Issue]:
    """Each slice target's columns are the view's, and no slice is given twice."""
    slices = entry.get("slice_targets")
    if not isinstance(slices, CommentedSeq):
        return []
    found, seen = [], {}
    for i, item in enumerate(slices):
        where = item.get("where") if isinstance(item, CommentedMap) else None
        if not isinstance(where, CommentedMap):
            continue
        line = _key_line(item, "where")
        for column in where:
            if str(column) not in columns:
                found.append(
                    issue(
                        f"slice_targets.{i}.where",
                        _key_line(where, column),
                        f"unknown column '{column}' in view '{view}': a slice is set by "
                        "filters on the KPI's view",
                        _did_you_mean(str(column), columns, "columns"),
                    )
                )
        key = repr(sorted((str(k), sorted(map(str, v if isinstance(v, list) else [v])))
                          for k, v in where.items()))  # fmt: skip
        if key in seen:
            found.append(
                issue(
                    f"slice_targets.{i}.where",
                    line,
                    f"this slice already has targets (slice_targets item {seen[key]})",
                    "give each slice's targets once, in one item",
                )
            )
        seen.setdefault(key, i)
    return found


def _approval_issues(entry: CommentedMap, issue: _Report) -> list[Issue]:
    if entry.get("status") != "agreed":
        return []
    approvals = entry.get("approvals")
    approvals = approvals if isinstance(approvals, CommentedMap) else {}
    missing = [d for d in ("finance", "procurement") if not isinstance(approvals.get(d), Mapping)]
    if not missing:
        return []
    who = " and ".join(missing)
    return [
        issue(
            "status",
            _key_line(entry, "status"),
            f"status is 'agreed' but {who} {'has' if len(missing) == 1 else 'have'} not approved",
            "set status: proposed; each department then approves it in the app (KPI "
            "definitions → Approvals), which records who signed which content",
        )
    ]


def _duplicate_ids(entries: list[CommentedMap], shown: str) -> list[Issue]:
    first: dict[str, int] = {}
    issues = []
    for entry in entries:
        kpi_id = entry.get("id")
        if not isinstance(kpi_id, str):
            continue
        line = _key_line(entry, "id")
        if kpi_id in first:
            issues.append(
                Issue(
                    shown,
                    line,
                    kpi_id,
                    "id",
                    f"id '{kpi_id}' is used twice (lines {first[kpi_id]} and {line})",
                    "give each KPI its own id",
                )
            )
        else:
            first[kpi_id] = line
    return issues


def _attribute(issues: list[Issue], entries: list[CommentedMap]) -> list[Issue]:
    """Name the KPI for issues found before the entries were read (duplicate YAML keys)."""
    starts = sorted((e.lc.line + 1, e.get("id")) for e in entries if isinstance(e.get("id"), str))
    out = []
    for issue in issues:
        if issue.kpi_id is None and issue.line is not None and starts:
            owners = [kpi_id for start, kpi_id in starts if start <= issue.line]
            if owners and issue.line >= starts[0][0]:
                issue = Issue(
                    issue.path, issue.line, owners[-1], issue.field, issue.message, issue.hint
                )
        out.append(issue)
    return out


# ---- pydantic errors in people's words ----------------------------------------------------

_KINDS = {
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_too_short": "text, not empty",
}


def _from_pydantic(err: Mapping[str, Any], entry: CommentedMap, issue: _Report) -> Issue:
    loc = tuple(err["loc"])
    kind, value = err["type"], err.get("input")
    where, parts = _locate(entry, loc)
    field = ".".join(parts) or None
    name = parts[-1] if parts else ""
    if kind == "missing":
        return issue(field, where, f"required field '{name}' is missing", _field_hint(loc))
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return issue(field, where, f"unknown field '{name}'", _did_you_mean(name, allowed))
    if kind == "literal_error":
        options = [
            o.strip(" '") for o in str(err["ctx"]["expected"]).replace(" or ", ",").split(",")
        ]
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f"did you mean '{close[0]}'?" if close else None
        return issue(
            field, where, f"{shown_value(value)} is not one of: {', '.join(options)}", hint
        )
    if kind == "string_pattern_mismatch" and field == "id":
        return issue(
            field,
            where,
            f"id {shown_value(value)} is not snake_case",
            "use lower-case letters, digits and underscores, e.g. days_to_pay",
        )
    if kind == "too_short":
        return issue(field, where, "should not be empty", _field_hint(loc))
    if kind in _KINDS:
        return issue(field, where, f"should be {_KINDS[kind]}, got {shown_value(value)}")
    if kind.startswith("date"):
        return issue(field, where, f"should be a date YYYY-MM-DD, got {shown_value(value)}")
    message = str(err["msg"]).removeprefix("Value error, ")
    return issue(field, where, message[:1].lower() + message[1:])


def _fields_at(loc: tuple) -> list[str]:
    """The field names allowed at `loc` (a path of field names from the KPI entry)."""
    model: type[BaseModel] = KpiDefinition
    for part in loc:
        if isinstance(part, int):  # an item of a list of models
            continue
        field = model.model_fields.get(str(part))
        nested = _model_in(field.annotation) if field else None
        if nested is None:
            return []
        model = nested
    return list(FIELDS) if model is KpiDefinition else list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if typing.get_origin(annotation) is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is list:
        return _model_in(typing.get_args(annotation)[0])
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


_FIELD_HINTS = {
    "owner": "finance, procurement or joint",
    "theme": "spend, compliance, savings, payments, inventory or suppliers",
    "unit": "currency, percent, days, ratio or count",
    "direction": "higher_is_better, lower_is_better or target_is_best",
    "status": "draft, proposed or agreed",
    "source": "one curated view, e.g. spend or payments",
    "period_by": "the date column the KPI is periodised by, e.g. invoice_date",
    "formula": "one aggregate expression, e.g. sum(amount)",
    "readings": "finance: ... and procurement: ..., each department's reading",
    "raci": "{responsible: ..., accountable: ..., consulted: [...], informed: [...]}",
    "by": "who approved, e.g. cfo@example.org",
    "on": "the date of the approval, YYYY-MM-DD",
    "where": "the slice's filters, e.g. {category: IT} or {cost_centre: [CC-100, CC-200]}",
    "slice_targets": "[{where: {category: IT}, targets: {FY2026-Q1: 0.8}}]",
}


def _field_hint(loc: tuple) -> str | None:
    name = str(loc[-1]) if loc else ""
    return f"add {name}: {_FIELD_HINTS[name]}" if name in _FIELD_HINTS else None


# ---- locations and wording ----------------------------------------------------------------


def _key_line(mapping: CommentedMap, key: Any) -> int:
    try:
        return mapping.lc.key(key)[0] + 1
    except (KeyError, TypeError, AttributeError):
        return mapping.lc.line + 1


def _locate(node: Any, loc: tuple) -> tuple[int, list[str]]:
    """The line of the key (or list item) a pydantic error location points at, and the
    location's parts as written in the file."""
    line, parts = node.lc.line + 1, []
    for part in loc:
        if part == "[key]":
            break
        if isinstance(node, CommentedMap):
            key = next((k for k in node if str(part) in (k, str(k), repr(k))), None)
            if key is None:
                return line, [*parts, str(part)]
            line, node = _key_line(node, key), node[key]
            parts.append(key.isoformat() if isinstance(key, date) else str(key))
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line, node = node.lc.item(part)[0] + 1, node[part]
            parts.append(str(part))
        else:
            return line, [*parts, str(part)]
    return line, parts


def _did_you_mean(name: str, choices: Iterable[str], what: str = "allowed") -> str | None:
    options = list(choices)
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.6)
    if close:
        return f"did you mean {either(close)}?"
    return f"{what}: {', '.join(options)}" if options else None
