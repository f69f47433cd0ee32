"""Health of batch/v1 Job and CronJob.

A Job is Healthy once Complete, Degraded once Failed, Suspended while suspended, and
Progressing otherwise. A CronJob is Suspended while suspended; it is Degraded when its
last scheduled run has finished without a later success, and Healthy otherwise.
"""

from __future__ import annotations

from datetime import datetime

from .fields import Obj, condition, condition_is, condition_message, path, sequence, text
from .status import HealthResult, degraded, healthy, progressing, suspended


def job(obj: Obj) -> HealthResult:
    for failure in ("Failed", "FailureTarget"):
        if condition_is(obj, failure, "True"):
            return degraded(condition_message(condition(obj, failure), "job failed"))
    for success in ("Complete", "SuccessCriteriaMet"):
        if condition_is(obj, success, "True"):
            return healthy(condition_message(condition(obj, success), "job completed"))
    if path(obj, "spec", "suspend") is True or condition_is(obj, "Suspended", "True"):
        return suspended("job is suspended")
    return progressing("job is running")


def _timestamp(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def cron_job(obj: Obj) -> HealthResult:
    if path(obj, "spec", "suspend") is True:
        return suspended("cronjob is suspended")
    if sequence(obj, "status", "active"):
        return healthy("a job is running")
    scheduled = _timestamp(text(obj, "status", "lastScheduleTime"))
    succeeded = _timestamp(text(obj, "status", "lastSuccessfulTime"))
    if scheduled is not None and (succeeded is None or succeeded < scheduled):
        return degraded("the last scheduled job did not succeed")
    return healthy()
