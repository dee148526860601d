"""Every REST route, under /api/. Each app's api module holds its views; this file only maps URLs.

v1 follows Open edX enterprise-access (learner redemption, policies, allocation) and enterprise-subsidy's v1
(subsidies, content metadata, transactions), and adds provisioning and forced redemptions; v2 follows
enterprise-subsidy's v2 (the ledger) and adds subsidy provisioning.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.api import MeView
from catalog import api as catalog
from customers import api as customers
from forced_batches import api as batches
from forced_redemptions import api as forced
from policies.api import ledger, provisioning, redemption
from subsidies import api as subsidies
from subsidies.api import reference_v1 as subsidy_v1

v1 = [
    path("me/", MeView.as_view(), name="me"),
    # learner redemption (enterprise-access v1)
    path(
        "policy-redemption/enterprise-customer/<uuid:customer_uuid>/can-redeem/",
        redemption.CanRedeemView.as_view(),
        name="can-redeem",
    ),
    path("policy-redemption/credits_available/", redemption.CreditsAvailableView.as_view(), name="credits-available"),
    path("policy-redemption/<uuid:policy_uuid>/redeem/", redemption.RedeemView.as_view(), name="redeem"),
    path("policy-allocation/<uuid:policy_uuid>/allocate/", provisioning.AllocateView.as_view(), name="allocate"),
    path("subsidy-access-policies/", provisioning.PolicyList.as_view(), name="policy-list"),
    path("subsidy-access-policies/<uuid:policy_uuid>/", provisioning.PolicyDetail.as_view(), name="policy-detail"),
    # provisioning
    path("customers/", customers.CustomerList.as_view(), name="customer-list"),
    path("customers/<uuid:customer_uuid>/", customers.CustomerDetail.as_view(), name="customer-detail"),
    path("customers/<uuid:customer_uuid>/learners/", customers.LearnerList.as_view(), name="learner-list"),
    path(
        "customers/<uuid:customer_uuid>/learners/<int:lms_user_id>/",
        customers.LearnerDetail.as_view(),
        name="learner-detail",
    ),
    path("customers/<uuid:customer_uuid>/groups/", customers.GroupList.as_view(), name="group-list"),
    path(
        "customers/<uuid:customer_uuid>/groups/<uuid:group_uuid>/",
        customers.GroupDetail.as_view(),
        name="group-detail",
    ),
    path("catalogs/", catalog.CatalogList.as_view(), name="catalog-list"),
    path("catalogs/<uuid:catalog_uuid>/", catalog.CatalogDetail.as_view(), name="catalog-detail"),
    path("courses/", catalog.CourseList.as_view(), name="course-list"),
    path("courses/bulk-upsert/", catalog.CourseBulkUpsert.as_view(), name="course-bulk-upsert"),
    path("courses/<str:course_key>/", catalog.CourseDetail.as_view(), name="course-detail"),
    path("course-runs/", catalog.CourseRunList.as_view(), name="course-run-list"),
    path("course-runs/<str:run_key>/", catalog.CourseRunDetail.as_view(), name="course-run-detail"),
    # enterprise-subsidy v1 (its published client and enterprise-access call these)
    path("subsidies/", subsidy_v1.SubsidyList.as_view(), name="v1-subsidy-list"),
    path("subsidies/<uuid:subsidy_uuid>/", subsidy_v1.SubsidyDetail.as_view(), name="v1-subsidy-detail"),
    path(
        "subsidies/<uuid:subsidy_uuid>/can_redeem/", subsidy_v1.SubsidyCanRedeem.as_view(), name="v1-subsidy-can-redeem"
    ),
    # No trailing slash, as the reference and its client spell it; the router's other spelling too.
    path(
        "subsidies/<uuid:subsidy_uuid>/aggregates-by-learner",
        subsidy_v1.SubsidyAggregatesByLearner.as_view(),
        name="v1-subsidy-aggregates-by-learner",
    ),
    path(
        "subsidies/<uuid:subsidy_uuid>/get_aggregates_by_learner/",
        subsidy_v1.SubsidyAggregatesByLearner.as_view(schema=None),  # documented once, under its usual name
        name="v1-subsidy-get-aggregates-by-learner",
    ),
    path(
        "content-metadata/<str:content_identifier>/", subsidy_v1.ContentMetadata.as_view(), name="v1-content-metadata"
    ),
    path("transactions/", ledger.V1TransactionList.as_view(), name="v1-transaction-list"),
    path("transactions/<uuid:uuid>/", subsidy_v1.TransactionDetail.as_view(), name="v1-transaction-detail"),
    # forced redemptions (ADR 0019)
    path("forced-redemptions/", forced.ForcedRedemptionList.as_view(), name="forced-list"),
    path("forced-redemptions/check/", forced.ForcedRedemptionCheckUnsaved.as_view(), name="forced-check-unsaved"),
    path("forced-redemptions/<uuid:uuid>/", forced.ForcedRedemptionDetail.as_view(), name="forced-detail"),
    path("forced-redemptions/<uuid:uuid>/redeem/", forced.ForcedRedemptionRedeem.as_view(), name="forced-redeem"),
    path("forced-redemptions/<uuid:uuid>/reverse/", forced.ForcedRedemptionReverse.as_view(), name="forced-reverse"),
    path("forced-redemptions/<uuid:uuid>/check/", forced.ForcedRedemptionCheck.as_view(), name="forced-check"),
    # forced redemptions from a file (issue 13)
    path("forced-redemption-batches/", batches.BatchList.as_view(), name="forced-batch-list"),
    path("forced-redemption-batches/<uuid:uuid>/", batches.BatchDetail.as_view(), name="forced-batch-detail"),
    path("forced-redemption-batches/<uuid:uuid>/start/", batches.BatchStart.as_view(), name="forced-batch-start"),
    path("forced-redemption-batches/<uuid:uuid>/cancel/", batches.BatchCancel.as_view(), name="forced-batch-cancel"),
    path(
        "forced-redemption-batches/<uuid:uuid>/results.csv",
        batches.BatchResults.as_view(),
        name="forced-batch-results",
    ),
]

v2 = [
    path("subsidies/", subsidies.SubsidyList.as_view(), name="subsidy-list"),
    path("subsidies/<uuid:subsidy_uuid>/", subsidies.SubsidyDetail.as_view(), name="subsidy-detail"),
    path("subsidies/<uuid:subsidy_uuid>/admin/deposits/", subsidies.DepositList.as_view(), name="deposit-list"),
    path(
        "subsidies/<uuid:subsidy_uuid>/transactions/",
        subsidy_v1.LearnerTransactionList.as_view(),
        name="learner-transaction-list",
    ),
    path(
        "subsidies/<uuid:subsidy_uuid>/admin/transactions/",
        ledger.TransactionList.as_view(),
        name="transaction-list",
    ),
    path(
        "subsidies/<uuid:subsidy_uuid>/admin/transactions/<uuid:transaction_uuid>/",
        subsidies.TransactionDetail.as_view(),
        name="transaction-detail",
    ),
    path(
        "subsidies/<uuid:subsidy_uuid>/admin/transactions/<uuid:transaction_uuid>/reverse/",
        ledger.TransactionReverse.as_view(),
        name="transaction-reverse",
    ),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Public by decision (README, "REST API"): the schema and its docs describe the API, no data; Swagger UI
    # and Redoc are served from this service (drf-spectacular-sidecar), not from a CDN.
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("v1/", include(v1)),
    path("v2/", include(v2)),
]
