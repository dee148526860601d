"""Signals the policies' units of work send, for apps above them (which policies must not import).

`redemption_reversed` is sent inside `services.reverse_redemption`'s transaction, after the refund and
the unenrollment, with `entry` (the Transaction), `reversal` and `actor`. A receiver's writes commit or
roll back with the reversal. The subsidy lock is held: a receiver must not wait for a lock that comes
earlier in the documented order (take it with `skip_locked`, or not at all).
"""

from django.dispatch import Signal

redemption_reversed = Signal()
