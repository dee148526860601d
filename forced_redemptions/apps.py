from django.apps import AppConfig


class ForcedRedemptionsConfig(AppConfig):
    name = "forced_redemptions"
    verbose_name = "Forced redemptions"

    def ready(self) -> None:
        from forced_redemptions.services import settle_after_ledger_reversal
        from policies.signals import redemption_reversed

        redemption_reversed.connect(settle_after_ledger_reversal, dispatch_uid="forced_redemptions.settle")
