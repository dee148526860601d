from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = "Fulfillment (enrollments)"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from fulfillment.metrics import PendingFulfillmentCollector

        REGISTRY.register(PendingFulfillmentCollector())
