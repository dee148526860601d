from django.apps import AppConfig


class ForcedRedemptionsConfig(AppConfig):
    name = "forced_redemptions"
    verbose_name = "Forced redemptions"

    def ready(self) -> None:
        from forced_redemptions.services import (
            settle_after_fulfilment,
            settle_after_ledger_reversal,
            settle_lock_records,
        )
        from policies.signals import redemption_reversed, redemption_settled, redemption_settling

        redemption_reversed.connect(settle_after_ledger_reversal, dispatch_uid="forced_redemptions.settle")
        redemption_settling.connect(settle_lock_records, dispatch_uid="forced_redemptions.settling")
        redemption_settled.connect(settle_after_fulfilment, dispatch_uid="forced_redemptions.settled")
