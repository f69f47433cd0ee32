"""The sync planner: which objects to apply, run as hooks or prune, in which order.

Pure: desired, live and inventory in, a ``Plan`` (JSON-serialisable data) out. Stops at
the plan; running it, health gates and retries belong to the sync executor.
"""

from .annotations import DeletePolicy, HookSpec, Phase, delete_policies, hook_spec, wave
from .build import Desired, InSync, build_plan
from .errors import (
    DuplicateObjectError,
    InvalidAnnotationError,
    InvalidHookError,
    InvalidSyncOptionError,
    InvalidWaveError,
    PlanError,
    PlanFormatError,
)
from .hooks import hook_name, with_hook_name
from .model import (
    HookInfo,
    Plan,
    PruneSuppressed,
    Skipped,
    SkipReason,
    Step,
    StepPurpose,
    Task,
    TaskAction,
)
from .options import SyncOptions, app_options, object_option_settings, parse_option_strings
from .order import KIND_ORDER, kind_rank, sort_key

__all__ = [
    "KIND_ORDER",
    "DeletePolicy",
    "Desired",
    "DuplicateObjectError",
    "HookInfo",
    "HookSpec",
    "InSync",
    "InvalidAnnotationError",
    "InvalidHookError",
    "InvalidSyncOptionError",
    "InvalidWaveError",
    "Phase",
    "Plan",
    "PlanError",
    "PlanFormatError",
    "PruneSuppressed",
    "SkipReason",
    "Skipped",
    "Step",
    "StepPurpose",
    "SyncOptions",
    "Task",
    "TaskAction",
    "app_options",
    "build_plan",
    "delete_policies",
    "hook_name",
    "hook_spec",
    "kind_rank",
    "object_option_settings",
    "parse_option_strings",
    "sort_key",
    "wave",
    "with_hook_name",
]
