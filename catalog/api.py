"""REST adapter for catalogs, courses and runs.

Courses and runs are public catalog data: any authenticated caller reads them; staff write them through
the bulk upsert (catalog.services.upsert_courses, all or nothing). Catalogs belong to a customer: staff
with the model permission write them; a customer admin reads its own.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import require_customer, require_staff
from accounts.permissions import customer_scope, member_customer_ids
from catalog.models import Catalog, Course, CourseRun, ProductSource
from catalog.services import upsert_courses
from common.api import StrictFieldsMixin, StrictSerializer, errors, validated_query
from customers.models import EnterpriseCustomer

MAX_RUN_PRICE_CENTS = 2_147_483_647  # CourseRun.price_cents is a PositiveIntegerField


class CourseRunSerializer(serializers.ModelSerializer):
    course_key = serializers.CharField(source="course.key", read_only=True)

    class Meta:
        model = CourseRun
        fields = [
            "key",
            "course_key",
            "start",
            "end",
            "enroll_by",
            "is_enrollable",
            "price_cents",
            "variant_id",
            "created",
            "modified",
        ]
        read_only_fields = fields


class CourseSerializer(serializers.ModelSerializer):
    runs = CourseRunSerializer(many=True, read_only=True)

    class Meta:
        model = Course
        fields = ["key", "title", "product_source", "runs", "created", "modified"]
        read_only_fields = fields


class CourseQuerySerializer(serializers.Serializer):
    catalog_uuid = serializers.UUIDField(required=False, help_text="Only the courses of this catalog.")
    product_source = serializers.ChoiceField(choices=ProductSource.choices, required=False)


@extend_schema_view(
    get=extend_schema(
        summary="List courses with their runs",
        parameters=[CourseQuerySerializer],
        responses={200: CourseSerializer(many=True), **errors(400)},
    )
)
class CourseList(generics.ListAPIView):
    serializer_class = CourseSerializer

    def get_queryset(self):
        query = validated_query(CourseQuerySerializer, self.request)
        runs = Prefetch("runs", queryset=CourseRun.objects.select_related("course"))
        queryset = Course.objects.prefetch_related(runs)
        if query.get("catalog_uuid"):
            # Which courses a catalog holds is the customer's business: only its admins, learners and staff ask.
            catalogs = Catalog.objects.filter(uuid=query["catalog_uuid"])
            scope = customer_scope(self.request.user, "catalog.view_catalog")
            if scope is not None:
                catalogs = catalogs.filter(customer_id__in=scope | member_customer_ids(self.request.user))
            queryset = queryset.filter(catalogs__in=catalogs)
        if query.get("product_source"):
            queryset = queryset.filter(product_source=query["product_source"])
        return queryset


@extend_schema_view(
    get=extend_schema(
        summary="Read a course with its runs",
        responses={200: CourseSerializer, **errors(404)},
    )
)
class CourseDetail(generics.RetrieveAPIView):
    serializer_class = CourseSerializer
    queryset = Course.objects.prefetch_related("runs__course")
    lookup_field = "key"
    lookup_url_kwarg = "course_key"


class RunQuerySerializer(serializers.Serializer):
    course_key = serializers.CharField(required=False, max_length=255)


@extend_schema_view(
    get=extend_schema(
        summary="List course runs",
        parameters=[RunQuerySerializer],
        responses={200: CourseRunSerializer(many=True), **errors(400)},
    )
)
class CourseRunList(generics.ListAPIView):
    serializer_class = CourseRunSerializer

    def get_queryset(self):
        query = validated_query(RunQuerySerializer, self.request)
        queryset = CourseRun.objects.select_related("course")
        if query.get("course_key"):
            queryset = queryset.filter(course__key=query["course_key"])
        return queryset


@extend_schema_view(get=extend_schema(summary="Read a course run", responses={200: CourseRunSerializer, **errors(404)}))
class CourseRunDetail(generics.RetrieveAPIView):
    serializer_class = CourseRunSerializer
    queryset = CourseRun.objects.select_related("course")
    lookup_field = "key"
    lookup_url_kwarg = "run_key"


# --- bulk upsert -----------------------------------------------------------------------------------------


class RunUpsertSerializer(StrictSerializer):
    key = serializers.CharField(max_length=255, help_text="e.g. course-v1:edX+DemoX+1T2042")
    price_cents = serializers.IntegerField(min_value=0, max_value=MAX_RUN_PRICE_CENTS)
    start = serializers.DateTimeField(required=False, allow_null=True)
    end = serializers.DateTimeField(required=False, allow_null=True)
    enroll_by = serializers.DateTimeField(required=False, allow_null=True, help_text="Enrollment deadline.")
    is_enrollable = serializers.BooleanField(required=False, default=True)
    variant_id = serializers.UUIDField(required=False, allow_null=True, help_text="External provider variant.")


class CourseUpsertSerializer(StrictSerializer):
    key = serializers.CharField(max_length=255, help_text="e.g. edX+DemoX")
    title = serializers.CharField(max_length=255)
    product_source = serializers.ChoiceField(choices=ProductSource.choices, default=ProductSource.EDX)
    runs = RunUpsertSerializer(many=True, required=False, default=list)


class BulkUpsertSerializer(StrictSerializer):
    courses = CourseUpsertSerializer(many=True, allow_empty=False)
    catalog_uuid = serializers.PrimaryKeyRelatedField(
        queryset=Catalog.objects.all(), required=False, help_text="Also add every course to this catalog."
    )


class BulkUpsertResultSerializer(serializers.Serializer):
    courses_created = serializers.IntegerField()
    courses_updated = serializers.IntegerField()
    runs_created = serializers.IntegerField()
    runs_updated = serializers.IntegerField()


def _for_service(course: dict) -> dict:
    def run(values: dict) -> dict:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}

    return {**course, "runs": [run(r) for r in course.get("runs", [])]}


class CourseBulkUpsert(APIView):
    """Create or update courses and their runs, all or nothing."""

    @extend_schema(
        summary="Create or update courses and runs, all or nothing",
        request=BulkUpsertSerializer,
        responses={200: BulkUpsertResultSerializer, **errors(400)},
    )
    def post(self, request):
        require_staff(request, "catalog.change_course", "import courses")
        serializer = BulkUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        counts = upsert_courses(courses=[_for_service(c) for c in data["courses"]], catalog=data.get("catalog_uuid"))
        return Response(BulkUpsertResultSerializer(counts).data)


# --- catalogs --------------------------------------------------------------------------------------------


class CatalogSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    enterprise_customer_uuid = serializers.PrimaryKeyRelatedField(
        source="customer", queryset=EnterpriseCustomer.objects.all()
    )
    course_keys = serializers.SlugRelatedField(
        source="courses",
        slug_field="key",
        queryset=Course.objects.all(),
        many=True,
        required=False,
        help_text="Keys of the courses it includes (a course includes all its runs).",
    )

    class Meta:
        model = Catalog
        fields = ["uuid", "enterprise_customer_uuid", "title", "course_keys", "created", "modified"]
        read_only_fields = ["uuid", "created", "modified"]

    def validate_enterprise_customer_uuid(self, customer):
        if self.instance is not None and customer.pk != self.instance.customer_id:
            raise serializers.ValidationError("A catalog cannot move to another customer.")
        return customer


class CatalogQuerySerializer(serializers.Serializer):
    enterprise_customer_uuid = serializers.UUIDField(required=False)


@extend_schema_view(
    get=extend_schema(
        summary="List catalogs (staff: all; customer admins: their own)",
        parameters=[CatalogQuerySerializer],
        responses={200: CatalogSerializer(many=True), **errors(400)},
    ),
    post=extend_schema(summary="Create a catalog", responses={201: CatalogSerializer, **errors(400)}),
)
class CatalogList(generics.ListCreateAPIView):
    serializer_class = CatalogSerializer

    def get_queryset(self):
        query = validated_query(CatalogQuerySerializer, self.request)
        scope = customer_scope(self.request.user, "catalog.view_catalog")
        queryset = Catalog.objects.prefetch_related("courses")
        if scope is not None:
            queryset = queryset.filter(customer_id__in=scope)
        if query.get("enterprise_customer_uuid"):
            queryset = queryset.filter(customer_id=query["enterprise_customer_uuid"])
        return queryset

    def post(self, request, *args, **kwargs):
        require_staff(request, "catalog.add_catalog", "create catalogs")
        return super().post(request, *args, **kwargs)


@extend_schema_view(
    get=extend_schema(summary="Read a catalog", responses={200: CatalogSerializer, **errors(404)}),
    put=extend_schema(summary="Replace a catalog", responses={200: CatalogSerializer, **errors(400, 404)}),
    patch=extend_schema(summary="Change a catalog", responses={200: CatalogSerializer, **errors(400, 404)}),
    delete=extend_schema(
        summary="Delete a catalog no policy uses",
        responses={204: OpenApiResponse(description="Deleted."), **errors(404, 409)},
    ),
)
class CatalogDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = CatalogSerializer

    def get_object(self):
        catalog = get_object_or_404(Catalog.objects.prefetch_related("courses"), pk=self.kwargs["catalog_uuid"])
        action = {"GET": "view", "PUT": "change", "PATCH": "change", "DELETE": "delete"}.get(
            self.request.method, "view"
        )
        if action == "view":
            require_customer(self.request, catalog.customer_id, "catalog.view_catalog", "read this catalog")
        else:
            require_staff(self.request, f"catalog.{action}_catalog", f"{action} catalogs")
        return catalog
