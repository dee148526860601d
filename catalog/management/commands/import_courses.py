"""Import courses and runs from a JSON file: `manage.py import_courses courses.json [--catalog UUID]`.

File shape: {"courses": [{"key", "title", "product_source", "runs": [{"key", "price_cents", "start",
"end", "enroll_by", "is_enrollable", "variant_id"}]}]}. All or nothing.
"""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Catalog
from catalog.services import upsert_courses
from common.errors import InvalidInput


class Command(BaseCommand):
    help = "Create or update courses and course runs from a JSON file (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--catalog", help="UUID of a catalog to add the imported courses to.")

    def handle(self, *args, path, catalog=None, **options):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        target = None
        if catalog:
            try:
                target = Catalog.objects.filter(pk=uuid.UUID(catalog)).first()
            except ValueError:
                target = None
            if target is None:
                raise CommandError(f"No catalog with uuid {catalog}.")
        courses = data.get("courses") if isinstance(data, dict) else data
        try:
            counts = upsert_courses(courses=courses, catalog=target)
        except InvalidInput as error:
            details = "\n".join(f"  {field}: {' '.join(msgs)}" for field, msgs in error.field_errors.items())
            raise CommandError(f"{error.message}\n{details}") from error
        self.stdout.write(self.style.SUCCESS(", ".join(f"{k}={v}" for k, v in counts.items())))
