from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_ledger_totals(sender, using, **kwargs) -> None:
    from django.db import connections

    from subsidies import ledger_totals

    ledger_totals.ensure_installed(connections[using])


class SubsidiesConfig(AppConfig):
    name = "subsidies"
    verbose_name = "Subsidies and ledger"

    def ready(self) -> None:
        # The ledger totals' triggers must exist after any migration (see subsidies/ledger_totals.py).
        post_migrate.connect(_ensure_ledger_totals, sender=self, dispatch_uid="subsidies_ledger_totals")
