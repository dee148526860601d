from django.core.management.base import BaseCommand

from demo.services import load_demo


class Command(BaseCommand):
    help = "Load the demo customer, catalog, subsidy and policies (idempotent)."

    def handle(self, *args, **options):
        loaded = load_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {loaded['customer']} / {loaded['subsidy']}"))
