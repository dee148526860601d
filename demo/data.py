"""The demo data set's fixed identifiers, so docs, tests and checks can refer to them."""

import datetime as dt
import uuid

CUSTOMER_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000001")
CUSTOMER_SLUG = "demo-university"
CATALOG_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000002")
SUBSIDY_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000003")
SPEND_POLICY_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000011")
ENROLLMENT_POLICY_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000012")
ASSIGNED_POLICY_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000013")
EXEC_ED_VARIANT_UUID = uuid.UUID("0d3f5e2a-0000-4000-8000-000000000021")

LINKED_LEARNERS = (1001, 1002, 1003, 1004, 1005)
UNLINKED_LEARNER = 2001

CLOSED_RUN = "course-v1:DemoU+Closed101+2024_T1"
OPEN_RUN = "course-v1:DemoU+Open101+2099_T1"
EXEC_ED_RUN = "course-v1:DemoU+ExecEd201+2099_T1"
OUTSIDE_RUN = "course-v1:DemoU+Outside301+2099_T1"

DEPOSIT_CENTS = 1_000_000
SPEND_POLICY_NAME = "Demo spend-capped budget"
ENROLLMENT_POLICY_NAME = "Demo enrollment-capped budget"
ASSIGNED_POLICY_NAME = "Demo assigned budget"


def utc(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


COURSES = [
    {
        "key": "DemoU+Closed101",
        "title": "Closed Course 101",
        "product_source": "edx",
        "runs": [
            {
                "key": CLOSED_RUN,
                "start": utc(2024, 1, 15),
                "end": utc(2024, 6, 30),
                "enroll_by": utc(2024, 2, 1),
                "is_enrollable": False,
                "price_cents": 10_000,
            }
        ],
    },
    {
        "key": "DemoU+Open101",
        "title": "Open Course 101",
        "product_source": "edx",
        "runs": [
            {
                "key": OPEN_RUN,
                "start": utc(2099, 1, 15),
                "end": utc(2099, 6, 30),
                "enroll_by": utc(2099, 1, 10),
                "is_enrollable": True,
                "price_cents": 5_000,
            }
        ],
    },
    {
        "key": "DemoU+ExecEd201",
        "title": "Executive Leadership 201",
        "product_source": "exec-ed",
        "runs": [
            {
                "key": EXEC_ED_RUN,
                "start": utc(2099, 2, 1),
                "end": utc(2099, 3, 1),
                "enroll_by": utc(2099, 1, 20),
                "is_enrollable": True,
                "price_cents": 150_000,
                "variant_id": str(EXEC_ED_VARIANT_UUID),
            }
        ],
    },
    {
        "key": "DemoU+Outside301",
        "title": "Outside the Catalog 301",
        "product_source": "edx",
        "runs": [
            {
                "key": OUTSIDE_RUN,
                "start": utc(2099, 1, 15),
                "end": utc(2099, 6, 30),
                "enroll_by": utc(2099, 1, 10),
                "is_enrollable": True,
                "price_cents": 3_000,
            }
        ],
    },
]
CATALOG_COURSES = ("DemoU+Closed101", "DemoU+Open101", "DemoU+ExecEd201")
