import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or reset the demo staff superuser `admin` (password from DEMO_ADMIN_PASSWORD, default 'admin')."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or "admin"
        user, created = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@localhost"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Demo admin {'created' if created else 'updated'}: admin"))
