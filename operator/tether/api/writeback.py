"""``Application.spec.writeBack`` and ``status.writeBack``: two-way GitOps settings.

The spec says which live fields go back to Git instead of being reverted
(``capture.fields``), which live objects are added as new files
(``capture.newObjects``, a label selector), and how the commit is made: on
which branch, pushed where, by whom, with which message, after how long a
quiet window (``debounce``). The status is what the controller last pushed and
what is waiting. The models check what a user can get wrong; the CRD carries
CEL rules for the same checks where CEL can express them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tether.api.types import DURATION_PATTERN, ApiModel, StatusModel, Timestamp, parse_duration
from tether.constants import WRITE_BACK_AUTHOR, WRITE_BACK_MESSAGE

MAX_DEBOUNCE_SECONDS = 3600.0
DEFAULT_MESSAGE = WRITE_BACK_MESSAGE
MESSAGE_PLACEHOLDERS = ("{app}", "{namespace}", "{changes}", "{revision}")

# A branch name git would accept, roughly `git check-ref-format --branch`.
BRANCH_PATTERN = r"^(refs/heads/)?[A-Za-z0-9._/-]+$"
_BAD_BRANCH = re.compile(r"(^|/)\.|\.\.|//|/$|\.lock$|^-|@\{")
_LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def _check_debounce(text: str) -> str:
    seconds = parse_duration(text)
    if seconds > MAX_DEBOUNCE_SECONDS:
        raise ValueError(f"{text!r} is too long: debounce is at most 1h")
    return text


Debounce = Annotated[
    str,
    AfterValidator(_check_debounce),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": 64,
            "x-kubernetes-validations": [
                {"rule": "duration(self) <= duration('1h')", "message": "debounce is at most 1h"}
            ],
        }
    ),
]
"""A quiet window: a Go duration from 0s to 1h."""


def check_branch(name: str) -> str:
    """``name`` if git would take it as a branch; a tag ref or an odd name is refused."""
    short = name.removeprefix("refs/heads/")
    if name.startswith("refs/") and not name.startswith("refs/heads/"):
        raise ValueError(f"{name!r} is not a branch: write a branch name such as main")
    if not re.match(BRANCH_PATTERN, name) or not short or _BAD_BRANCH.search(short):
        raise ValueError(f"{name!r} is not a valid branch name")
    return short


_BRANCH_SCHEMA = {
    "type": "string",
    "maxLength": 255,
    "pattern": BRANCH_PATTERN,
    "x-kubernetes-validations": [
        {
            "rule": "!self.contains('..') && !self.endsWith('/') && !self.endsWith('.lock')",
            "message": "must be a valid branch name",
        }
    ],
}
Branch = Annotated[str, AfterValidator(check_branch), WithJsonSchema(_BRANCH_SCHEMA)]


class CaptureField(ApiModel):
    """A field of matching objects whose live value goes to Git instead of being reverted."""

    group: str = Field(
        default="", max_length=253, description="API group glob; empty for the core group."
    )
    kind: str = Field(
        min_length=1,
        max_length=253,
        description="Kind glob, e.g. Deployment or *Set; several separated by commas.",
    )
    name: str | None = Field(
        default=None, max_length=253, description="Only objects whose name matches this glob."
    )
    pointer: str = Field(
        min_length=2,
        max_length=1024,
        description=(
            "The field, as a JSON pointer with [key=value] list selectors, e.g. /spec/replicas "
            "or /spec/template/spec/containers[name=web]/image."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.startsWith('/')", "message": "pointer must start with /"}
            ]
        },
    )
    helm_value: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="For Helm sources: the value this field comes from, e.g. image.tag.",
    )

    @field_validator("pointer")
    @classmethod
    def _pointer_parses(cls, pointer: str) -> str:
        from tether.writeback.errors import WriteBackError
        from tether.writeback.pointer import FieldPointer

        try:
            FieldPointer.parse(pointer)
        except WriteBackError as exc:
            raise ValueError(str(exc)) from None
        return pointer


class NewObjectSelector(ApiModel):
    """Which live objects, created by hand in the destination, are added to Git."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "size(self.matchLabels) > 0", "message": "matchLabels must not be empty"}
            ]
        }
    )

    match_labels: dict[str, str] = Field(
        description="Labels an object must carry, e.g. {tether.dev/capture: 'true'}.",
        json_schema_extra={
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE},
        },
    )

    @field_validator("match_labels")
    @classmethod
    def _labels_valid(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels:
            raise ValueError("matchLabels must name at least one label")
        for key, value in labels.items():
            if not re.match(_LABEL_KEY, key) or len(key) > 316:
                raise ValueError(f"{key!r} is not a label key")
            if not re.match(_LABEL_VALUE, value) or len(value) > 63:
                raise ValueError(f"{value!r} (label {key}) is not a label value")
        return labels


class WriteBackCapture(ApiModel):
    """What is captured: listed fields, and new objects with a label."""

    fields: list[CaptureField] = Field(
        default_factory=list, max_length=64, description="Fields captured instead of reverted."
    )
    new_objects: NewObjectSelector | None = Field(
        default=None, description="Live objects with these labels that no app tracks are added."
    )
    allow_secrets: bool = Field(
        default=False,
        description="Allow Secret fields and Secret objects to be written to Git. Defaults to false.",
    )


class WriteBackAuthor(ApiModel):
    """The commit's author and committer."""

    name: str = Field(
        default=WRITE_BACK_AUTHOR[0], min_length=1, max_length=256, description="Name."
    )
    email: str = Field(
        default=WRITE_BACK_AUTHOR[1],
        min_length=3,
        max_length=256,
        pattern=r"^[^<>\s]+@[^<>\s]+$",
        description="Email.",
    )

    @field_validator("name")
    @classmethod
    def _one_line(cls, name: str) -> str:
        if any(ch in name for ch in "<>\n\r"):
            raise ValueError("author name must be one line without < or >")
        return name


class WriteBack(ApiModel):
    """Two-way GitOps: live changes to listed fields, and new labelled objects, go to Git."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.pushBranch) || !has(self.branch) "
                    "|| self.pushBranch != self.branch",
                    "message": "pushBranch must differ from branch",
                },
                {
                    "rule": "(has(self.capture.fields) && size(self.capture.fields) > 0) "
                    "|| has(self.capture.newObjects)",
                    "message": "capture at least one field or set newObjects",
                },
            ]
        }
    )

    capture: WriteBackCapture = Field(description="What to capture.")
    branch: Branch | None = Field(
        default=None,
        description=(
            "The branch the commit goes on. Defaults to the branch the app follows; an app "
            "following a tag, SHA or semver range must follow a branch to write back."
        ),
    )
    push_branch: Branch | None = Field(
        default=None,
        description=(
            "Push to this branch instead (made from branch, e.g. for review); the app does not "
            "follow it. It may be force-pushed, with a lease on what Tether last pushed."
        ),
    )
    author: WriteBackAuthor = Field(
        default_factory=WriteBackAuthor, description="The commit's author."
    )
    message: str = Field(
        default=DEFAULT_MESSAGE,
        min_length=1,
        max_length=4096,
        description=(
            "The commit message. {app}, {namespace}, {changes} (one line per change) and "
            "{revision} (the commit captured against) are replaced; nothing else is evaluated."
        ),
    )
    debounce: Debounce = Field(
        default="10s",
        description="Changes within this window go into one commit. 0s to 1h; defaults to 10s.",
    )

    @property
    def debounce_seconds(self) -> float:
        return parse_duration(self.debounce)

    @model_validator(mode="after")
    def _consistent(self) -> WriteBack:
        if self.push_branch is not None and self.push_branch == self.branch:
            raise ValueError("pushBranch must differ from branch")
        if not self.capture.fields and self.capture.new_objects is None:
            raise ValueError("capture at least one field or set capture.newObjects")
        return self


class HeldField(StatusModel):
    """A captured field held against selfHeal until its commit lands.

    Kept in the status so that an operator started again restores the capture
    (and its mask) before any sync, instead of guessing who moved.
    """

    group: str = Field(default="", description="API group; empty for the core group.")
    kind: str = Field(description="Kind.")
    namespace: str = Field(default="", description="Namespace; empty if cluster-scoped.")
    name: str = Field(description="Name.")
    pointer: str = Field(description="The captured field, as a pointer.")
    git_digest: str | None = Field(
        default=None,
        max_length=64,
        description="SHA-256 of Git's value when it was captured; unset for Secrets.",
    )


class WriteBackStatus(StatusModel):
    """What write-back last pushed, and what waits for the next commit."""

    last_commit: str | None = Field(default=None, description="The last commit pushed.")
    last_push_time: Timestamp | None = Field(default=None, description="When it was pushed.")
    branch: str | None = Field(default=None, description="The branch it was pushed to.")
    pending: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Captured changes waiting for the next commit (object and field, no values).",
    )
    held: list[HeldField] = Field(
        default_factory=list,
        max_length=128,
        description="Captured fields held at their live value until their commit lands.",
    )


def render_message(template: str, *, app: str, namespace: str, changes: str, revision: str) -> str:
    """The commit message: the four placeholders replaced, one pass, nothing evaluated.

    A single left-to-right pass, so a value that itself holds ``{app}`` (a label in
    ``changes``, say) is never substituted again.
    """
    values = {"{app}": app, "{namespace}": namespace, "{changes}": changes, "{revision}": revision}
    pattern = re.compile("|".join(re.escape(p) for p in MESSAGE_PLACEHOLDERS))
    return pattern.sub(lambda m: values[m.group(0)], template)


__all__ = [
    "DEFAULT_MESSAGE",
    "CaptureField",
    "HeldField",
    "NewObjectSelector",
    "WriteBack",
    "WriteBackAuthor",
    "WriteBackCapture",
    "WriteBackStatus",
    "check_branch",
    "render_message",
]
