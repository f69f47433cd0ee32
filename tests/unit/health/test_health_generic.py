"""Generic kstatus rules, CEL custom rules and aggregation."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tether.health import (
    AGGREGATION_ORDER,
    CelRule,
    CelRuleError,
    HealthResult,
    HealthStatus,
    aggregate,
    assess,
    compile_rules,
    is_worse,
    worst,
)

H, P, D, S, M, U = (
    HealthStatus.HEALTHY,
    HealthStatus.PROGRESSING,
    HealthStatus.DEGRADED,
    HealthStatus.SUSPENDED,
    HealthStatus.MISSING,
    HealthStatus.UNKNOWN,
)


def widget(
    status: Any = None, generation: int = 1, deleting: bool = False, **spec: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "w", "namespace": "n", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T10:00:00Z"
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": meta,
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "message": message}


@pytest.mark.parametrize(
    ("name", "obj", "expected", "message"),
    [
        ("no status", widget(), H, ""),
        ("empty status", widget({}), H, ""),
        ("deleting", widget({"conditions": [cond("Ready", "True")]}, deleting=True), P, "deleted"),
        ("stale generation", widget({"observedGeneration": 1}, generation=2), P, "generation"),
        ("current generation", widget({"observedGeneration": 2}, generation=2), H, ""),
        ("no observedGeneration", widget({"phase": "x"}, generation=5), H, ""),
        (
            "stalled",
            widget({"conditions": [cond("Stalled", "True", "bad config"), cond("Ready", "False")]}),
            D,
            "bad config",
        ),
        (
            "reconciling",
            widget({"conditions": [cond("Reconciling", "True", "working")]}),
            P,
            "working",
        ),
        ("ready", widget({"conditions": [cond("Ready", "True")]}), H, ""),
        (
            "not ready",
            widget({"conditions": [cond("Ready", "False", "waiting for db")]}),
            P,
            "waiting for db",
        ),
        ("ready unknown", widget({"conditions": [cond("Ready", "Unknown")]}), P, "not ready"),
        (
            "stalled false",
            widget({"conditions": [cond("Stalled", "False"), cond("Ready", "True")]}),
            H,
            "",
        ),
        ("other conditions", widget({"conditions": [cond("Synced", "False")]}), H, ""),
    ],
)
def test_kstatus_generic(
    name: str, obj: dict[str, Any], expected: HealthStatus, message: str
) -> None:
    result = assess(obj)
    assert result.status is expected, result
    assert message in result.message


RULE = CelRule(
    group="example.com",
    kind="Widget",
    degraded="has(obj.status.phase) && obj.status.phase == 'Failed'",
    suspended="has(obj.spec.paused) && obj.spec.paused",
    healthy="has(obj.status.phase) && obj.status.phase == 'Ready'",
    message="has(obj.status.phase) ? 'phase ' + obj.status.phase : 'no phase'",
)


@pytest.mark.parametrize(
    ("obj", "expected", "message"),
    [
        (widget({"phase": "Ready"}), H, "phase Ready"),
        (widget({"phase": "Failed"}), D, "phase Failed"),
        (widget({"phase": "Ready"}, paused=True), S, "phase Ready"),
        (widget({"phase": "Creating"}), P, "phase Creating"),
        (widget({}), P, "no phase"),
    ],
)
def test_cel_rule_decides_health(obj: dict[str, Any], expected: HealthStatus, message: str) -> None:
    result = assess(obj, compile_rules([RULE]))
    assert (result.status, result.message) == (expected, message)


def test_cel_rule_applies_only_to_its_group_kind() -> None:
    rules = compile_rules([RULE])
    other = {
        **widget({"conditions": [cond("Ready", "False", "nope")]}),
        "apiVersion": "other.io/v1",
    }
    assert assess(other, rules).status is P  # kstatus, not the rule
    pending_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "status": {"phase": "Pending"},
    }
    assert assess(pending_pod, rules).status is P


def test_rule_without_healthy_falls_back_to_builtin_when_nothing_matches() -> None:
    rules = compile_rules(
        [CelRule("example.com", "Widget", degraded="obj.metadata.name == 'broken'")]
    )
    assert assess(widget({"conditions": [cond("Ready", "True")]}), rules).status is H
    assert assess(widget({"conditions": [cond("Ready", "False")]}), rules).status is P
    broken = widget({"conditions": [cond("Ready", "True")]})
    broken["metadata"]["name"] = "broken"
    assert assess(broken, rules).status is D


def test_cel_rule_can_override_a_builtin_kind() -> None:
    rules = compile_rules([CelRule("", "Service", healthy="true")])
    lb = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "LoadBalancer"},
    }
    assert assess(lb).status is P
    assert assess(lb, rules).status is H


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (CelRule("example.com", "Widget", healthy="obj.status.phase =="), "healthy"),
        (CelRule("example.com", "Widget", healthy="true", degraded="((("), "degraded"),
        (CelRule("example.com", "Widget", healthy="true", message="'a' +"), "message"),
        (CelRule("example.com", "Widget", progressing="  "), "progressing"),
        (CelRule("example.com", "Widget"), "rule"),
    ],
)
def test_bad_cel_rule_is_a_typed_error_naming_the_rule(rule: CelRule, field: str) -> None:
    with pytest.raises(CelRuleError) as info:
        compile_rules([rule])
    assert info.value.rule == "example.com/Widget"
    assert info.value.field == field
    assert str(info.value).startswith(f"health rule example.com/Widget: {field}:")


def test_duplicate_rules_are_rejected() -> None:
    with pytest.raises(CelRuleError, match="more than once"):
        compile_rules([RULE, RULE])


def test_evaluation_error_gives_unknown_naming_the_rule() -> None:
    rules = compile_rules([CelRule("example.com", "Widget", healthy="obj.status.phase == 'Ready'")])
    result = assess(widget({}), rules)
    assert result.status is U
    assert "health rule example.com/Widget: healthy" in result.message


def test_non_boolean_result_gives_unknown() -> None:
    rules = compile_rules([CelRule("example.com", "Widget", healthy="obj.metadata.name")])
    result = assess(widget({}), rules)
    assert result.status is U and "boolean" in result.message


def test_core_group_rule_name() -> None:
    with pytest.raises(CelRuleError, match="health rule core/ConfigMap"):
        compile_rules([CelRule("", "ConfigMap", healthy="(")])


def test_aggregation_order_is_worst_wins() -> None:
    assert AGGREGATION_ORDER == (H, S, P, M, D, U)
    for better, worse in itertools.pairwise(AGGREGATION_ORDER):
        assert is_worse(worse, better) and not is_worse(better, worse)
    assert worst([]) is H
    assert worst([H, S, P]) is P
    assert worst([P, M, H]) is M
    assert worst([M, D]) is D
    assert worst([D, U, H]) is U


def test_aggregate_keeps_the_first_worst_message() -> None:
    results = [
        HealthResult(H),
        HealthResult(P, "web rolling out"),
        HealthResult(D, "db crashlooping"),
        HealthResult(D, "cache crashlooping"),
        HealthResult(S, "paused"),
    ]
    assert aggregate(results) == HealthResult(D, "db crashlooping")
    assert aggregate([]) == HealthResult(H)
    assert aggregate([HealthResult(S, "p"), HealthResult(H)]).status is S
