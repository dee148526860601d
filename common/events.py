"""What operators watch: one structured log line and the matching Prometheus metrics per domain event.

One place per event, called by the services: a redemption (committed, pending, failed, refused), a forced
redemption attempt, a reversal, a downstream call, a lock wait that ran out. Log lines are JSON (structlog,
configured in settings) and carry the transaction uuid, policy, learner and reason code; never metadata
values, which may hold personal data (an exec-ed learner's date of birth).
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter, Histogram

log = structlog.get_logger("learner_credit.events")

REDEMPTIONS = Counter(
    "learner_credit_redemptions_total", "Redemptions by outcome and reason code.", ["outcome", "reason"]
)
REDEEM_SECONDS = Histogram(
    "learner_credit_redeem_seconds",
    "Time of one redemption call (reserve, and fulfil and settle when they run in the request).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FORCED_ATTEMPTS = Counter("learner_credit_forced_attempts_total", "Forced-redemption attempts by outcome.", ["outcome"])
REVERSALS = Counter("learner_credit_reversals_total", "Reversals (refund and unenroll).")
LOCK_WAIT_TIMEOUTS = Counter("learner_credit_lock_wait_timeouts_total", "Row-lock waits that ran out (429).")
DOWNSTREAM_CALLS = Counter(
    "learner_credit_downstream_calls_total", "Calls to the LMS and GEAG by outcome.", ["system", "operation", "outcome"]
)


def redemption(
    *,
    outcome: str,
    policy_uuid,
    lms_user_id,
    content_key: str,
    transaction_uuid=None,
    reason: str = "",
    seconds: float | None = None,
) -> None:
    REDEMPTIONS.labels(outcome=outcome, reason=reason or "-").inc()
    if seconds is not None:
        REDEEM_SECONDS.observe(seconds)
    log.info(
        "redemption",
        outcome=outcome,
        reason=reason or None,
        transaction_uuid=str(transaction_uuid) if transaction_uuid else None,
        policy_uuid=str(policy_uuid),
        lms_user_id=lms_user_id,
        content_key=content_key,
    )


def forced_attempt(
    *,
    outcome: str,
    forced_redemption_uuid,
    policy_uuid,
    lms_user_id,
    course_run_key: str,
    transaction_uuid=None,
    reason: str = "",
) -> None:
    FORCED_ATTEMPTS.labels(outcome=outcome).inc()
    log.info(
        "forced_redemption_attempt",
        outcome=outcome,
        reason=reason or None,
        forced_redemption_uuid=str(forced_redemption_uuid),
        transaction_uuid=str(transaction_uuid) if transaction_uuid else None,
        policy_uuid=str(policy_uuid),
        lms_user_id=lms_user_id,
        course_run_key=course_run_key,
    )


def reversal(*, transaction_uuid, policy_uuid, lms_user_id, refunded_cents: int) -> None:
    REVERSALS.inc()
    log.info(
        "reversal",
        transaction_uuid=str(transaction_uuid),
        policy_uuid=str(policy_uuid) if policy_uuid else None,
        lms_user_id=lms_user_id,
        refunded_cents=refunded_cents,
    )


def downstream_call(
    *, transaction_uuid, system: str, operation: str, outcome: str, http_status, duration_ms: int, attempt: int
) -> None:
    DOWNSTREAM_CALLS.labels(system=system, operation=operation, outcome=outcome).inc()
    log.info(
        "downstream_call",
        transaction_uuid=str(transaction_uuid),
        system=system,
        operation=operation,
        outcome=outcome,
        http_status=http_status,
        duration_ms=duration_ms,
        attempt=attempt,
    )


def lock_wait_timeout() -> None:
    LOCK_WAIT_TIMEOUTS.inc()
    log.warning("lock_wait_timeout")
