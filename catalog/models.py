"""Courses, their runs (what a learner actually enrolls in) and customers' catalogs."""

import uuid

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class ProductSource(models.TextChoices):
    EDX = "edx", "edX course"
    EXEC_ED = "exec-ed", "Executive education"


class Course(TimeStampedModel):
    key = models.CharField(max_length=255, unique=True, help_text="e.g. edX+DemoX")
    title = models.CharField(max_length=255)
    product_source = models.CharField(max_length=16, choices=ProductSource.choices, default=ProductSource.EDX)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    @property
    def is_exec_ed(self) -> bool:
        return self.product_source == ProductSource.EXEC_ED


class CourseRun(TimeStampedModel):
    key = models.CharField(max_length=255, unique=True, help_text="e.g. course-v1:edX+DemoX+1T2042")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="runs")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    enroll_by = models.DateTimeField(null=True, blank=True, help_text="Enrollment deadline (UTC).")
    is_enrollable = models.BooleanField(default=True)
    price_cents = models.PositiveIntegerField(help_text="List price in USD cents.")
    variant_id = models.UUIDField(null=True, blank=True, help_text="External provider variant (exec-ed).")
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_cents__gte=0), name="run_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.key

    def is_past_enroll_by(self, now=None) -> bool:
        return self.enroll_by is not None and (now or timezone.now()) > self.enroll_by


class Catalog(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey("customers.EnterpriseCustomer", on_delete=models.PROTECT, related_name="catalogs")
    title = models.CharField(max_length=255)
    courses = models.ManyToManyField(Course, blank=True, related_name="catalogs")
    history = HistoricalRecords(m2m_fields=[courses])

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
