"""Who may force a redemption: the one rule the admin, the REST API and anything else ask.

Forcing charges a subsidy and enrolls a learner past the normal checks' reach, so it is its own
permission (`forced_redemptions.force_redeem`), not the generic add/change model permissions. Viewing
the records (an audit trail) needs only the usual view permission.
"""

from __future__ import annotations

from accounts.permissions import is_staff_with

FORCE_REDEEM = "forced_redemptions.force_redeem"
VIEW = "forced_redemptions.view_forcedpolicyredemption"
FORCE_REDEEM_LABEL = "Can force a redemption"
VIEW_LABEL = "Can view forced policy redemption"


def missing_force_permission(action: str) -> str:
    """What a 403 says when someone without `force_redeem` tries `action`."""
    return f"{action} needs the permission “{FORCE_REDEEM_LABEL}” ({FORCE_REDEEM}) on a staff account."


def can_force(user) -> bool:
    """An active superuser, active staff holding `forced_redemptions.force_redeem`, or an operator's JWT."""
    return is_staff_with(user, FORCE_REDEEM)


def can_view(user) -> bool:
    """Whoever may force, or active staff with the view permission on forced redemptions."""
    if can_force(user):
        return True
    return is_staff_with(user, VIEW)
