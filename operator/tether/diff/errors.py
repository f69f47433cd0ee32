"""Exception hierarchy of the diff package.

Every error raised by ``tether.diff`` derives from :class:`DiffError`, so callers can
catch one type and turn it into a condition message. Messages name the field path and
the cause, never a Secret value.
"""

from __future__ import annotations

from tether.errors import TetherError


class DiffError(TetherError):
    """Base class of every error raised by the diff package."""


class PatchError(DiffError):
    """A patch could not be computed or applied (bad document, bad directive)."""


class MergeKeyMissingError(PatchError):
    """A list element merged by key lacks the declared merge key."""


class PreconditionFailedError(PatchError):
    """The patch would change apiVersion, kind or metadata.name."""


class ConflictError(PatchError):
    """Two partial patches disagree about the same field."""


class PatchMetaError(DiffError):
    """OpenAPI patch metadata is malformed (e.g. an unknown patch strategy)."""


class LastAppliedError(DiffError):
    """The last-applied-configuration annotation is not a JSON object."""


class FieldsV1Error(DiffError):
    """A managedFields fieldsV1 entry could not be parsed."""


class IgnoreRuleError(DiffError):
    """An ignoreDifferences rule is malformed (e.g. a bad JSON pointer)."""
