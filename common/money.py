"""Money is integer USD cents everywhere; this is only how people read it."""

from __future__ import annotations


def format_cents(cents: int | None) -> str:
    """Cents as dollars for display, e.g. 150000 → "$1,500.00", -5000 → "-$50.00", None → "-"."""
    if cents is None:
        return "-"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"
