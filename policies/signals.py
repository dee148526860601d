"""Signals the policies' units of work send, for apps above them (which policies must not import).

`redemption_reversed` is sent inside `services.reverse_redemption`'s transaction, after the refund and
the unenrollment, with `entry` (the Transaction), `reversal` and `actor`. A receiver's writes commit or
roll back with the reversal. The subsidy lock is held: a receiver must not wait for a lock that comes
earlier in the documented order (take it with `skip_locked`, or not at all).

`redemption_settling` and `redemption_settled` bracket the settle phase of a redemption fulfilled
downstream (settlement.py), in one database transaction. `redemption_settling(transaction_uuid)` is sent
first, before any lock of the settle is taken, so a receiver may lock what comes earlier in the lock order
(a forced-redemption record). `redemption_settled(entry, error)` is sent after the transaction became
committed (`error` None) or failed (`error` the refusal); a receiver's writes commit with the settlement.
"""

from django.dispatch import Signal

redemption_reversed = Signal()
redemption_settling = Signal()
redemption_settled = Signal()
