from django.apps import AppConfig


class ForcedRedemptionsConfig(AppConfig):
    name = "forced_redemptions"
    verbose_name = "Forced redemptions"
