"""What an LMS-issued JWT lets its bearer do here: the token's claims read as this service's rights.

The Open edX LMS signs a JWT for every user and service it authenticates. Its `user_id` claim is the
learner's `lms_user_id`; its `roles` claim lists edx-rbac system-wide roles as `"<role>:<context>"`, the
context being a customer uuid or `*` for every customer. We read the enterprise roles the way
enterprise-access does:

- `enterprise_openedx_operator:*` (or the `administrator: true` claim of LMS staff): staff of this
  service, for every customer and learner, in the API (not the admin site, which has its own logins);
- `enterprise_admin:<customer uuid>`: an admin of that customer (`*`: of every customer);
- `enterprise_learner:<customer uuid>`: a member of that customer, acting as learner `user_id` only.

A JWT request's rights come from the token alone, never from rows of a local user who happens to share
its username, so a revoked role is gone with the next token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from common.models import MAX_LMS_USER_ID

OPERATOR_ROLE = "enterprise_openedx_operator"
ADMIN_ROLE = "enterprise_admin"
LEARNER_ROLE = "enterprise_learner"
ALL_CONTEXTS = "*"


class MalformedClaims(ValueError):
    """A signed token whose claims do not have the types the LMS gives them."""


@dataclass(frozen=True)
class JwtGrants:
    lms_user_id: int | None
    operator: bool = False
    admin_of_all: bool = False
    admin_of: frozenset[uuid.UUID] = field(default_factory=frozenset)
    learner_of: frozenset[uuid.UUID] = field(default_factory=frozenset)

    def administers(self, customer_id) -> bool:
        return self.operator or self.admin_of_all or _as_uuid(customer_id) in self.admin_of

    def member_customer_ids(self) -> set[uuid.UUID]:
        return set(self.admin_of | self.learner_of)


def grants_from_claims(payload: dict[str, Any]) -> JwtGrants:
    """The rights a verified token's payload carries. Raises MalformedClaims on a claim of the wrong type."""
    lms_user_id = payload.get("user_id")
    if lms_user_id is not None and (
        isinstance(lms_user_id, bool) or not isinstance(lms_user_id, int) or not 0 < lms_user_id <= MAX_LMS_USER_ID
    ):
        raise MalformedClaims("The token's user_id claim must be a positive integer.")
    roles = payload.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise MalformedClaims("The token's roles claim must be a list of strings.")
    administrator = payload.get("administrator", False)
    if not isinstance(administrator, bool):
        raise MalformedClaims("The token's administrator claim must be true or false.")

    operator = administrator
    admin_of_all = False
    admin_of: set[uuid.UUID] = set()
    learner_of: set[uuid.UUID] = set()
    for role in roles:
        name, _, context = role.partition(":")
        if name == OPERATOR_ROLE:
            operator = True
        elif name == ADMIN_ROLE and context == ALL_CONTEXTS:
            admin_of_all = True
        elif name == ADMIN_ROLE and (customer := _as_uuid(context)):
            admin_of.add(customer)
        elif name == LEARNER_ROLE and (customer := _as_uuid(context)):
            learner_of.add(customer)
        # Other roles (catalog admins, roles of other systems) grant nothing here.
    return JwtGrants(
        lms_user_id=lms_user_id,
        operator=operator,
        admin_of_all=admin_of_all,
        admin_of=frozenset(admin_of),
        learner_of=frozenset(learner_of),
    )


def grants_of(user) -> JwtGrants | None:
    """The grants of a JWT-authenticated request's user, or None for a token or session login."""
    return getattr(user, "jwt_grants", None)


def _as_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
