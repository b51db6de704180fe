"""People, departments and roles (config/people.yaml).

Who may do what with them is decided in kpi.core.permissions.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
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


_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def normalise_email(address: object) -> str | None:
    """An e-mail address as compared: stripped, ASCII letters lowercased, nothing else.

    An address holding any non-ASCII character is None (matches nobody): str.lower() would
    fold look-alikes (the Kelvin sign "K" becomes "k"), letting one address pass for another.
    """
    text = str(address or "").strip()
    if not text or not text.isascii() or text.count("@") != 1:
        return None
    local, _, domain = text.partition("@")
    if not local or not domain or any(c.isspace() for c in text):
        return None
    return text.translate(_ASCII_FOLD)


def find_person(email: object, people: Iterable[Person]) -> Person | None:
    """The person in people.yaml with exactly this address (after normalise_email)."""
    wanted = normalise_email(email)
    if wanted is None:
        return None
    return next((p for p in people if normalise_email(p.email) == wanted), None)


def display_name(who: object, people: Iterable[Person]) -> str:
    """Who did something, as pages show it: the name from people.yaml, not the e-mail.

    A recorded address no longer in people.yaml shows its part before the @ and says so
    (the domain stays hidden); a recorded actor that is not an address ("demo", "cli")
    shows as recorded.
    """
    text = "" if who is None else str(who).strip()
    person = find_person(text, people)
    if person is not None:
        return person.name
    if "@" in text:
        return f"{text.partition('@')[0]} (not in people.yaml)"
    return text
