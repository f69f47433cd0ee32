"""The Projects a process knows: name -> policy, or why the Project cannot be used.

The controller feeds ``ProjectBook`` the Project objects its watch delivers and asks it
for the verdict base of an app: the policy, or a refusal when the Project is missing
or invalid (an invalid Project refuses everything rather than falling back to
anything looser). ``put`` and ``delete`` say whether the policy changed, so the caller
wakes the Project's apps only when it matters.

Pure: no I/O, no kopf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.api.errors import InvalidObjectError
from tether.api.parse import parse_project
from tether.identity import AppRef
from tether.tenancy.check import Refusal, Rule, Verdict, missing_project
from tether.tenancy.policy import ProjectPolicy, policy_of


@dataclass(frozen=True)
class InvalidProject:
    """A Project object that does not validate; every app naming it is refused."""

    name: str
    problem: str

    def verdict(self, app: AppRef) -> Verdict:
        refusal = Refusal(
            Rule.PROJECT,
            f"Application {app}",
            f"Project {self.name} is invalid, so it allows nothing: {self.problem}",
        )
        return Verdict(self.name, (refusal,))


Entry = ProjectPolicy | InvalidProject


@dataclass
class ProjectBook:
    """The latest known state of every Project, by name."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def put(self, body: Mapping[str, Any]) -> bool:
        """Record a Project object; True when what it allows changed."""
        entry = entry_of(body)
        if self.entries.get(entry.name) == entry:
            return False
        self.entries[entry.name] = entry
        return True

    def delete(self, name: str) -> bool:
        """Forget a deleted Project; True when it was known."""
        return self.entries.pop(name, None) is not None

    def policy(self, name: str, app: AppRef) -> ProjectPolicy | Verdict:
        """The policy of Project ``name``, or the refusing verdict when it cannot be used."""
        entry = self.entries.get(name)
        if entry is None:
            return missing_project(name, app)
        if isinstance(entry, InvalidProject):
            return entry.verdict(app)
        return entry


def entry_of(body: Mapping[str, Any]) -> Entry:
    """A Project object as a policy, or as an ``InvalidProject`` naming its problems."""
    metadata = body.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""
    try:
        return policy_of(parse_project(body))
    except InvalidObjectError as exc:
        return InvalidProject(name, str(exc))
