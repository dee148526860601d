"""Policy writes, above all `redeem`: one redemption as one unit of work.

Lock order (every unit that changes money takes its row locks in this order, so none can deadlock):

    1. subsidy          (subsidies.services.lock_subsidy)  - the ledger's lock: balance
    2. policy           (SubsidyAccessPolicy row)          - spend limit
    3. learner link     (EnterpriseCustomerUser row)       - per-learner limits
    4. assignment       (LearnerContentAssignment row)     - the learner's allocation

A forced-redemption record, when there is one, is locked before all of these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from assignments import services as assignment_services
from catalog.models import CourseRun
from common import events
from common.errors import DomainError, InvalidInput
from common.locking import bound_lock_wait, lock_errors_as_domain
from common.prepared import PreparedRead
from fulfillment import services as fulfillment
from fulfillment.backends import EnrollmentRequest, get_backend
from fulfillment.errors import FulfillmentError
from policies import settlement, tasks
from policies.errors import IdempotencyKeyMismatch, RedemptionRefused, TooManyFailedRedemptions
from policies.models import SubsidyAccessPolicy
from policies.redeemability import ContentRead, RedemptionContext, build_context, evaluate, read_content, read_link
from policies.signals import redemption_reversed
from subsidies import selectors as ledger_reads
from subsidies import services as ledger
from subsidies.errors import InvalidRequestedPrice
from subsidies.models import Transaction, TransactionState


@dataclass
class Redemption:
    transaction: Transaction
    created: bool


@dataclass
class Reservation:
    """The reserve phase's outcome. `remote`: a fulfillment job waits (call `complete_redemption` after
    commit); `failure`: settled inline as failed (raised by `complete_redemption`)."""

    transaction: Transaction
    created: bool
    remote: bool = False
    failure: FulfillmentError | None = None


@dataclass
class _Attempt:
    idempotency_key: str = ""
    price_cents: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


# The policy with its customer (fulfillment reads it) and the running totals, in one statement; only the policy
# row is locked. The totals are current: the statement runs with the subsidy lock held.
_LOCKED_POLICY = PreparedRead(
    lambda pk: (
        SubsidyAccessPolicy.all_objects.select_for_update(of=("self",))
        .select_related("customer")
        .annotate(**ledger_reads.running_totals_annotations(subsidy_ref="subsidy_id", policy_ref="pk"))
        .filter(pk=pk)
    ),
    pk=uuid.uuid4(),
)


def derive_idempotency_key(policy: SubsidyAccessPolicy, lms_user_id: int, content_key: str) -> str:
    """Same request → same key; after a failed or reversed redemption of the same → a new key."""
    settled = ledger_reads.learner_ledger(policy.pk, lms_user_id).settled_uuids(content_key)
    return idempotency_key(policy, lms_user_id, content_key, settled=settled)


def idempotency_key(policy: SubsidyAccessPolicy, lms_user_id: int, content_key: str, *, settled) -> str:
    """The key from the request and the uuids of its settled (failed or reversed) earlier transactions."""
    parts = [str(policy.subsidy_id), str(policy.pk), str(lms_user_id), content_key, *sorted(map(str, settled))]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return f"{policy.subsidy_id}-{digest}"


def redeem(
    *,
    policy: SubsidyAccessPolicy,
    lms_user_id: int,
    content_key: str,
    metadata: dict[str, Any] | None = None,
    forced: bool = False,
    price_cents: int | None = None,
    content: ContentRead | None = None,
    late_enrollment: bool = False,
    caller_key: str | None = None,
) -> Redemption:
    """Redeem `content_key` for the learner under `policy`: checks, charge, enrollment, assignment update.

    The phases of settlement.py: reserve (one database transaction), then fulfil and settle. With the
    local backend all three commit together or not at all; with a remote one the reservation commits
    first and the returned transaction is `committed`, or `pending` when the downstream's answer is not
    known yet (it is retried). A repeat returns the same transaction (`created=False`). A definitive
    fulfillment refusal leaves the transaction `failed` (no money moves) and raises FulfillmentError,
    so a retry derives a new idempotency key. Raises RedemptionRefused, FulfillmentError, LockWaitTimeout.

    `late_enrollment`: an operator enrolls past the run's deadline (the ledger's `allow_late_enrollment`);
    `caller_key`: the caller's idempotency key, stored on the transaction (see `create_ledger_transaction`).
    """
    started = time.perf_counter()
    outcome, reason, entry = "error", "", None  # "error": not a domain outcome (a bug), counted all the same
    try:
        result = complete_redemption(
            reserve_redemption(
                policy=policy,
                lms_user_id=lms_user_id,
                content_key=content_key,
                metadata=metadata,
                forced=forced,
                price_cents=price_cents,
                content=content,
                late_enrollment=late_enrollment,
                caller_key=caller_key,
            )
        )
        entry = result.transaction
        outcome = entry.state if result.created else "repeat"
        return result
    except DomainError as error:
        outcome, reason = ("failed" if isinstance(error, FulfillmentError) else "refused"), error.reason
        raise
    finally:
        events.redemption(
            outcome=outcome,
            policy_uuid=policy.pk,
            lms_user_id=lms_user_id,
            content_key=content_key,
            transaction_uuid=entry.uuid if entry is not None else None,
            reason=reason,
            seconds=time.perf_counter() - started,
        )


def reserve_redemption(
    *,
    policy: SubsidyAccessPolicy,
    lms_user_id: int,
    content_key: str,
    metadata: dict[str, Any] | None = None,
    forced: bool = False,
    price_cents: int | None = None,
    content: ContentRead | None = None,
    late_enrollment: bool = False,
    caller_key: str | None = None,
    forced_by: str = "",
) -> Reservation:
    """The reserve phase, in one database transaction (a savepoint of the caller's, if it has one).

    Under the locks: every check, the transaction and the assignment accepted; then, with a remote backend,
    the fulfillment job (the caller commits, then calls `complete_redemption`); with a local one the
    enrollment is written first and the transaction is written settled (committed, or failed when the
    enrollment was refused). `content`: what `read_content` said of `content_key`, when the caller has read it.

    What no lock of the unit protects (the run and its course, catalog membership, the policy's having
    groups) is read before the locks, in one statement, so the subsidy lock is held only for the locks, the
    idempotency lookup, the running totals and limits, the learner's spend and the writes: every check that
    depends on money or limits is still evaluated under the locks. A refusal raises before anything is
    written, so the unit needs no savepoint of its own. `forced_by`: what forced it (a forced redemption's
    uuid), which an assignment's timeline names.
    """
    if price_cents is not None and (
        not isinstance(price_cents, int) or isinstance(price_cents, bool) or price_cents < 0
    ):
        raise InvalidRequestedPrice(
            f"The requested price must be a whole number of cents, 0 or more; got {price_cents!r}."
        )
    attempt = _Attempt(metadata=_bounded_metadata(metadata))
    if content is None or content.content_key != content_key or content.catalog_id != policy.catalog_id:
        content = read_content(policy, content_key)
    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        subsidy = ledger.lock_subsidy(policy.subsidy_id)
        locked = _LOCKED_POLICY.first(pk=policy.pk)
        if locked is None:  # deleted under us
            raise SubsidyAccessPolicy.DoesNotExist(f"No subsidy access policy {policy.pk}.")
        policy = locked
        policy.subsidy = subsidy
        link = read_link(policy, lms_user_id, with_groups=content.policy_has_groups, lock=True)
        # The learner's transactions under the policy, once: their spend, this content's settled ones
        # (the idempotency key) and the live transaction with that key (a repeat).
        learner_ledger = ledger_reads.learner_ledger(policy.pk, lms_user_id)
        attempt.idempotency_key = idempotency_key(
            policy, lms_user_id, content_key, settled=learner_ledger.settled_uuids(content_key)
        )
        if existing_uuid := learner_ledger.live_uuid_with_key(subsidy.pk, attempt.idempotency_key):
            return Reservation(transaction=Transaction.objects.get(pk=existing_uuid), created=False)
        if caller_key:
            # Under the subsidy lock: no other unit can take the key between this read and the write.
            if existing := Transaction.objects.filter(subsidy=subsidy, idempotency_key=caller_key).first():
                entry = repeat_of_key(existing, lms_user_id, content_key, price_cents)
                return Reservation(transaction=entry, created=False)
            if existing_uuid := learner_ledger.live_uuid_for_content(subsidy.pk, content_key):
                return Reservation(transaction=Transaction.objects.get(pk=existing_uuid), created=False)
            attempt.idempotency_key = caller_key
        _refuse_after_repeated_failures(learner_ledger, lms_user_id, content_key)
        ctx = build_context(
            policy,
            lms_user_id=lms_user_id,
            content_key=content_key,
            forced=forced,
            late_enrollment=late_enrollment,
            price_cents=price_cents,
            link=link,
            content=content,  # read again if the locked policy names another catalog
            totals=ledger_reads.running_totals_of(policy),
            learner_spend=learner_ledger.spend(),
        )
        ctx.forced_by = forced_by
        remote = get_backend().remote
        entry, request, failure = _reserve_checked(ctx, attempt, settle_inline=not remote)
        if remote:
            settlement.open_job(request)
            return Reservation(transaction=entry, created=True, remote=True)
        return Reservation(transaction=entry, created=True, failure=failure)


def complete_redemption(reservation: Reservation) -> Redemption:
    """Fulfil and settle a reservation made with a remote backend; call it after the reservation commits.

    The first try is made here, within the downstream's timeouts; if its answer is not known by then the
    transaction is returned `pending` and retried in the background with the same transaction.
    """
    entry = reservation.transaction
    if reservation.failure is not None:
        raise reservation.failure
    if not (reservation.remote and reservation.created):
        return Redemption(transaction=entry, created=reservation.created)
    if connection.in_atomic_block:
        # The caller's transaction is still open (its locks too): call the downstream once it has committed.
        transaction.on_commit(lambda: tasks.fulfil_and_schedule(entry.uuid))
        return Redemption(transaction=entry, created=True)
    attempted = tasks.fulfil_and_schedule(entry.uuid)
    entry = attempted.transaction
    if entry.state == TransactionState.FAILED:
        if isinstance(attempted.error, FulfillmentError):
            raise attempted.error
        raise FulfillmentError(entry.failure_message, reason=entry.failure_reason)
    return Redemption(transaction=entry, created=True)


def _bounded_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The caller's metadata, which travels on the transaction: a JSON object of at most MAX_METADATA_BYTES."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a JSON object.", field_errors={"metadata": ["Must be a JSON object."]})
    size = len(json.dumps(metadata, ensure_ascii=False, default=str).encode("utf-8", errors="replace"))
    if size > settings.MAX_METADATA_BYTES:
        problem = f"metadata is {size:,} bytes of JSON; at most {settings.MAX_METADATA_BYTES:,} are kept."
        raise InvalidInput(f"{problem} Nothing was charged.", field_errors={"metadata": [problem]})
    return dict(metadata)


def _refuse_after_repeated_failures(learner_ledger, lms_user_id: int, content_key: str) -> None:
    """Each failed try leaves a `failed` ledger row; past MAX_FAILED_REDEMPTIONS_PER_DAY for one learner and
    content, refuse (429) until the cause is fixed, instead of writing row after row."""
    since = timezone.now() - dt.timedelta(days=1)
    failures = learner_ledger.recent_failures(content_key, since=since)
    if len(failures) >= settings.MAX_FAILED_REDEMPTIONS_PER_DAY:
        last = failures[-1]
        raise TooManyFailedRedemptions(
            f"Redeeming {content_key} for learner {lms_user_id} under this policy failed {len(failures)} times in "
            f"the last 24 hours (last: {last.failure_reason or 'unknown'}, {last.created:%Y-%m-%d %H:%M} UTC); "
            f"fix the cause before trying again. Nothing was charged.",
            content_key=content_key,
        )


def _reserve_checked(
    ctx: RedemptionContext, attempt: _Attempt, *, settle_inline: bool
) -> tuple[Transaction, EnrollmentRequest, FulfillmentError | None]:
    policy = ctx.policy
    if ctx.forced and ctx.run is not None and ctx.link is not None and ctx.link.active:
        policy.strategy.prepare_forced(ctx)
    verdict = evaluate(ctx)
    if not verdict.can_redeem:
        raise RedemptionRefused(verdict.reason, verdict=verdict)
    request = enrollment_request(ctx, attempt.metadata, verdict.price_cents)
    fulfillment.check_enrollable(request)  # refuse before anything is charged
    attempt.price_cents = verdict.price_cents
    # Settled inline (no network in between): enroll first, so the entry is written once, already settled.
    identifier, failure = settlement.fulfil_inline(request) if settle_inline else ("", None)
    entry = ledger.open_redemption(
        **redemption_entry(ctx, request, attempt.idempotency_key),
        fulfillment_identifier=identifier or None,  # written settled when fulfilled inline
    )
    policy.strategy.after_redeem(ctx, entry.uuid)
    if failure is not None:
        settlement.settle_failed(entry, failure)
    return entry, request, failure


def enrollment_request(ctx: RedemptionContext, metadata: dict[str, Any], price_cents: int) -> EnrollmentRequest:
    """What fulfillment is asked for the redemption `ctx` decided, its price known; `metadata` travels with it."""
    # Only forcing, an operator or the policy's late window may enroll late; a caller's own flag does not count.
    metadata.pop("allow_late_enrollment", None)
    if ctx.forced or ctx.late_enrollment or ctx.policy.is_late_redemption_allowed(ctx.now):
        metadata["allow_late_enrollment"] = True
    return EnrollmentRequest(
        lms_user_id=ctx.lms_user_id,
        run=ctx.run,
        transaction_uuid=uuid.uuid4(),  # the ledger entry's uuid, known before it is written
        data_sharing_consent_required=ctx.policy.customer.data_sharing_consent_required,
        metadata=metadata,
        customer_uuid=ctx.policy.customer_id,
        price_cents=price_cents,
    )


def redemption_entry(ctx: RedemptionContext, request: EnrollmentRequest, idempotency_key: str) -> dict[str, Any]:
    """The ledger entry's fields for a redemption (subsidies.services.new_redemption takes them)."""
    return {
        "transaction_uuid": request.transaction_uuid,
        "subsidy": ctx.policy.subsidy,
        "idempotency_key": idempotency_key,
        "price_cents": request.price_cents,
        "lms_user_id": ctx.lms_user_id,
        "lms_user_email": ctx.link.email,
        "content_key": ctx.run.key,
        "parent_content_key": ctx.run.course.key,
        "content_title": ctx.run.course.title,
        "policy_uuid": ctx.policy.pk,
        "metadata": request.metadata,
    }


def create_ledger_transaction(
    *,
    subsidy,
    policy_uuid,
    lms_user_id: int,
    content_key: str,
    metadata: dict[str, Any] | None,
    idempotency_key: str | None = None,
    requested_price_cents: int | None = None,
    late_enrollment: bool = False,
) -> Redemption:
    """The ledger's "create transaction" (enterprise-subsidy): a redemption under one of the subsidy's policies.

    The caller's `idempotency_key` is the transaction's: a repeat of it returns that transaction, and the
    same key for another learner, content or price is refused (IdempotencyKeyMismatch), never answered
    with that other transaction. A live redemption of the same content by the same learner is returned
    whatever the key. A requested price may be below the run's list price, never above it.
    `late_enrollment`: the operator's `allow_late_enrollment`; the run's deadlines do not apply.
    """
    policy = SubsidyAccessPolicy.objects.filter(pk=policy_uuid).first()
    if policy is None or policy.subsidy_id != subsidy.pk:
        problem = "No such (live) subsidy access policy." if policy is None else "This policy spends another subsidy."
        raise InvalidInput(problem, field_errors={"subsidy_access_policy_uuid": [problem]})
    if idempotency_key:
        existing = Transaction.objects.filter(subsidy=subsidy, idempotency_key=idempotency_key).first()
        if existing is not None:
            return Redemption(
                transaction=repeat_of_key(existing, lms_user_id, content_key, requested_price_cents), created=False
            )
    run = CourseRun.objects.filter(key=content_key).first()
    if requested_price_cents is not None and run is not None and requested_price_cents > run.price_cents:
        raise InvalidRequestedPrice(
            f"The requested price {requested_price_cents} cents is above the list price of {run.key} "
            f"({run.price_cents} cents).",
            content_key=run.key,
        )
    return redeem(
        policy=policy,
        lms_user_id=lms_user_id,
        content_key=content_key,
        metadata=metadata,
        price_cents=requested_price_cents,
        late_enrollment=late_enrollment,
        caller_key=idempotency_key or None,
    )


def repeat_of_key(existing: Transaction, lms_user_id: int, content_key: str, price_cents: int | None) -> Transaction:
    """`existing` if a request with its idempotency key asks for the same thing; else IdempotencyKeyMismatch."""
    differences = []
    if existing.lms_user_id != lms_user_id:
        differences.append("learner")
    if existing.content_key != content_key:
        differences.append("content")
    if price_cents is not None and -existing.quantity != price_cents:
        differences.append("price")
    if differences:
        raise IdempotencyKeyMismatch(
            f"The idempotency key {existing.idempotency_key!r} belongs to another transaction (a different "
            f"{' and '.join(differences)}); use a new key for a new request. Nothing was charged.",
            transaction_uuid=existing.uuid,
        )
    return existing


def reverse_redemption(*, entry: Transaction, reason: str = "", actor=None, unenrolled_downstream: bool = False):
    """Refund a redemption and unenroll the learner: the way to undo a redemption.

    With a remote backend the learner is unenrolled downstream first (LMS fulfillment cancelled, exec-ed
    order cancelled), with no transaction open; only then are the refund and the local unenrollment written,
    as one unit. A downstream that refuses or cannot be reached refunds nothing (the error says so), and a
    retry is safe: cancelling twice is success downstream. `unenrolled_downstream`: the caller did that
    step already (it holds a lock of its own now).
    """
    if not unenrolled_downstream:
        settlement.unenroll_downstream(entry)
    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        ledger.lock_subsidy(entry.subsidy_id)
        entry = Transaction.objects.select_for_update().get(pk=entry.pk)
        reversal = ledger.reverse(entry=entry, reason=reason, actor=actor)
        fulfillment.unenroll(transaction_uuid=entry.uuid)
        assignment_services.mark_reversed(transaction_uuid=entry.uuid)
        redemption_reversed.send(sender=Transaction, entry=entry, reversal=reversal, actor=actor)
    events.reversal(
        transaction_uuid=entry.uuid,
        policy_uuid=entry.subsidy_access_policy_uuid,
        lms_user_id=entry.lms_user_id,
        refunded_cents=reversal.quantity,
    )
    return reversal
