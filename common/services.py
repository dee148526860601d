"""Write helpers shared by every app."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction


def upsert(model: type[models.Model], *, defaults: dict[str, Any], **lookup: Any) -> tuple[models.Model, bool]:
    """Like `update_or_create`, but saves an existing row only when a value really changes.

    Re-running an import or the demo loader then writes nothing, so the history tables record real
    changes only. Returns (object, created).
    """
    with transaction.atomic():
        obj = model._default_manager.select_for_update().filter(**lookup).first()
        if obj is None:
            return model._default_manager.create(**lookup, **defaults), True
        changed = {name: value for name, value in defaults.items() if getattr(obj, name) != value}
        if changed:
            for name, value in changed.items():
                setattr(obj, name, value)
            obj.save()
        return obj, False
