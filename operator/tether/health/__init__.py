"""Health assessment of live objects: built-in checks per kind, kstatus for the rest,
custom CEL rules, and aggregation into an app's health. Pure: objects in, results out.

Stops at judging what it is given; it does not follow owner references to child
objects, and it does not wait or poll (the sync executor's health gate does).
"""

from .assess import BUILTIN_CHECKS, assess
from .cel import EMPTY_RULES, CelRule, CompiledRule, RuleSet, compile_rule, compile_rules
from .errors import CelRuleError, HealthError
from .status import AGGREGATION_ORDER, HealthResult, HealthStatus, aggregate, is_worse, worst

__all__ = [
    "AGGREGATION_ORDER",
    "BUILTIN_CHECKS",
    "EMPTY_RULES",
    "CelRule",
    "CelRuleError",
    "CompiledRule",
    "HealthError",
    "HealthResult",
    "HealthStatus",
    "RuleSet",
    "aggregate",
    "assess",
    "compile_rule",
    "compile_rules",
    "is_worse",
    "worst",
]
