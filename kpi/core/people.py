"""People, departments and roles (config/people.yaml).

Who may do what with them is decided in kpi.core.permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kpi.core.settings import config_dir

ROLES = ("cfo", "member", "viewer")
DEPARTMENTS = ("finance", "procurement")  # the departments that own and sign KPIs


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    department: str
    role: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.department}, {self.role})"

    @property
    def can_write(self) -> bool:
        """The CFO, and members of the two departments that own the numbers. A member of
        another department (operations, say) reads, as a viewer does."""
        return self.role == "cfo" or (self.role == "member" and self.department in DEPARTMENTS)


def load_people(path: Path | None = None) -> list[Person]:
    """Everyone in people.yaml; a malformed entry is refused with its position."""
    path = path or config_dir() / "people.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    people = []
    for n, entry in enumerate(raw.get("people") or [], start=1):
        try:
            person = Person(
                str(entry["email"]),
                str(entry["name"]),
                str(entry["department"]),
                str(entry["role"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: person #{n} lacks {exc}") from exc
        if person.role not in ROLES:
            raise ValueError(f"{path}: person #{n} has role '{person.role}'; use one of {ROLES}")
        people.append(person)
    return people
