"""The app's data upload as one permission-checked service: who, then the file checks, then
the pipeline. Kept apart from the file checks so that the pipeline can use those checks
without importing this service (no import cycle)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied, require_table_loader
from kpi.ingest.loader import LOCAL, OIDC, Loader
from kpi.ingest.pipelines import LoadRefused, LoadReport, load_files
from kpi.ingest.upload_checks import check_files
from kpi.store.database import Store


def load_upload(
    store: Store,
    person: Person | None,
    table: str,
    files: Sequence[Path],
    mapping: str | None = None,
    progress: Callable[[str], None] | None = None,
    file_names: Sequence[str] | None = None,
    identity_mode: str = LOCAL,
) -> LoadReport:
    """The app's data upload: the person must be allowed to load this table (PermissionDenied
    otherwise, whatever the page shows), then the files are checked and loaded.

    `file_names` are the uploaded files' own names (the page keeps them in a temporary
    folder); `identity_mode` how the app identified the person (oidc or local). Both are
    recorded in `loads` with the person.
    """
    person = require_table_loader(person, table)
    if identity_mode not in (OIDC, LOCAL):  # fail closed: who is loading must be known
        raise PermissionDenied(
            f"The app could not tell how {person.label} was identified ('{identity_mode}'); "
            "nothing was loaded: sign in again or use local mode."
        )
    names = list(file_names) if file_names is not None else None
    own = _own_names(files, names)
    say = progress or (lambda _message: None)
    try:
        check_files(files, error=LoadRefused)
        return load_files(
            store,
            table,
            list(files),
            mapping=mapping,
            progress=lambda message: say(own(message)),
            loader=Loader.of(person, identity_mode),
            file_names=names,
        )
    except LoadRefused as exc:  # the refusal names the file as the person knows it
        raise LoadRefused(own(str(exc))) from exc


def _own_names(files: Sequence[Path], names: Sequence[str] | None) -> Callable[[str], str]:
    """A message with each temporary copy's path replaced by the uploaded file's own name:
    the person never chose, and cannot find, /tmp/tmpab12/invoices.csv."""
    pairs = sorted(
        zip((str(f) for f in files), names or [], strict=False),
        key=lambda pair: -len(pair[0]),  # a longer path first, should one contain another
    )

    def rename(message: str) -> str:
        for path, name in pairs:
            message = message.replace(path, name)
        return message

    return rename
