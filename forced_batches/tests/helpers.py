"""Set-up for the batch tests: a cohort of linked learners, a roomy policy for it, and CSV files."""

from __future__ import annotations

import csv
import io
import uuid

from catalog.models import Catalog
from customers.models import EnterpriseCustomer
from customers.services import link_learner
from demo import data as demo_data
from forced_batches import services
from forced_batches.models import ForcedRedemptionBatch
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.services import save_policy
from subsidies import services as ledger
from subsidies.models import Subsidy

REASON = "SUP-7001: the spring cohort missed the closed run"
COHORT_START = 60_001
COHORT_POLICY_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-0000000000c1")


def cohort_email(lms_user_id: int) -> str:
    return f"cohort{lms_user_id}@demo-university.example"


def link_cohort(size: int, *, start: int = COHORT_START) -> list[int]:
    """Link `size` learners to the demo customer; returns their ids."""
    customer = EnterpriseCustomer.objects.get(pk=demo_data.CUSTOMER_UUID)
    ids = list(range(start, start + size))
    for lms_user_id in ids:
        link_learner(
            customer=customer,
            lms_user_id=lms_user_id,
            email=cohort_email(lms_user_id),
            first_name=f"Cohort{lms_user_id}",
            last_name="Learner",
        )
    return ids


def cohort_policy(*, spend_limit_cents: int = 4_000_000) -> SubsidyAccessPolicy:
    """A per-learner spend policy on the demo subsidy, which is first topped up by its spend limit (the
    subsidy's policies may not promise more than its deposits)."""
    subsidy = Subsidy.objects.get(pk=demo_data.SUBSIDY_UUID)
    ledger.deposit(
        subsidy=subsidy,
        quantity_cents=spend_limit_cents,
        sales_contract_reference_id="COHORT-TOPUP",
        idempotency_key=f"cohort-topup-{spend_limit_cents}",
    )
    existing = SubsidyAccessPolicy.objects.filter(pk=COHORT_POLICY_UUID).first()
    if existing is not None:
        return existing
    return save_policy(
        SubsidyAccessPolicy(
            uuid=COHORT_POLICY_UUID,
            policy_type=PolicyType.PER_LEARNER_SPEND,
            customer=subsidy.customer,
            display_name="Cohort budget",
            description="Test policy for batches.",
            catalog=Catalog.objects.get(pk=demo_data.CATALOG_UUID),
            subsidy=subsidy,
            spend_limit_cents=spend_limit_cents,
        )
    )


def csv_bytes(rows: list[dict], *, header: list[str] | None = None) -> bytes:
    header = header or list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def upload(content: bytes, *, actor=None, policy=None, reason: str = REASON, **kwargs) -> ForcedRedemptionBatch:
    return services.upload_batch(
        file=io.BytesIO(content), file_name="cohort.csv", actor=actor, reason=reason, policy=policy, **kwargs
    )


BATCHES = "/api/v1/forced-redemption-batches/"


def batch_url(batch, action: str = "") -> str:
    return f"{BATCHES}{batch.pk if hasattr(batch, 'pk') else batch}/{action}"
