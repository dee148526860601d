"""Who may force a redemption: the one rule the admin, the REST API and anything else ask.

Forcing charges a subsidy and enrolls a learner past the normal checks' reach, so it is its own
permission (`forced_redemptions.force_redeem`), not the generic add/change model permissions. Viewing
the records (an audit trail) needs only the usual view permission.
"""

from __future__ import annotations

FORCE_REDEEM = "forced_redemptions.force_redeem"
VIEW = "forced_redemptions.view_forcedpolicyredemption"


def can_force(user) -> bool:
    """An active superuser, or active staff holding `forced_redemptions.force_redeem`."""
    if not (user is not None and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or (user.is_staff and user.has_perm(FORCE_REDEEM))


def can_view(user) -> bool:
    """Whoever may force, or active staff with the view permission on forced redemptions."""
    if can_force(user):
        return True
    return bool(user is not None and user.is_authenticated and user.is_staff and user.has_perm(VIEW))
