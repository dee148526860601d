from django.apps import AppConfig


class ForcedBatchesConfig(AppConfig):
    name = "forced_batches"
    verbose_name = "Forced redemptions from a file"
