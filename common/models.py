"""Abstract building blocks shared by every app."""

from django.db import models

# PositiveIntegerField's ceiling: an lms_user_id above it could not be stored or even looked up on SQLite.
MAX_LMS_USER_ID = 2_147_483_647


class TimeStampedModel(models.Model):
    """Adds `created` and `modified`, both timezone-aware UTC (USE_TZ=True)."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
