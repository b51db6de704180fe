"""Who loads: the person (or the computer's operator) a load is recorded against.

Every load names who did it in `loads` (loaded_by, loaded_by_name), how that identity was
established (identity_mode) and, for the audited tables, in their audit logs:

- the app: the signed-in person (mode `oidc`) or the person picked in local mode (`local`);
- the command line with `--as EMAIL`: that person from people.yaml (`command line`);
- the command line without `--as`: the computer's operator, recorded as `os:<user>` — the
  OS user who runs it, who could write the store file anyway (`command line`);
- the demo builder: `demo` (mode `demo`).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from kpi.core.people import Person

OIDC, LOCAL, COMMAND_LINE, DEMO = "oidc", "local", "command line", "demo"
IDENTITY_MODES: tuple[str, ...] = (OIDC, LOCAL, COMMAND_LINE, DEMO)


@dataclass(frozen=True)
class Loader:
    """Who a load is recorded against; `person` is None only for the command line's operator
    (and the demo builder, which does not load through the pipeline)."""

    loaded_by: str
    name: str
    mode: str
    person: Person | None = None

    @classmethod
    def of(cls, person: Person, mode: str) -> Loader:
        """A person from people.yaml, identified by `mode` (oidc, local or command line)."""
        if mode not in (OIDC, LOCAL, COMMAND_LINE):
            raise ValueError(f"'{mode}' is not how a person is identified: {OIDC}, {LOCAL}, ...")
        return cls(person.email, person.name, mode, person)

    @classmethod
    def operator(cls) -> Loader:
        """The OS user running the command line (or calling the library directly)."""
        user = _os_user()
        return cls(f"os:{user}", user, COMMAND_LINE)

    @property
    def is_operator(self) -> bool:
        """The command line's operator: no person, so no per-table rule (see module doc)."""
        return self.person is None and self.mode == COMMAND_LINE


DEMO_LOADER = Loader("demo", "demo builder", DEMO)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's bare uid)
        return f"uid-{os.getuid()}"
