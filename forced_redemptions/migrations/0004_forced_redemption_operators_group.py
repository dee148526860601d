"""The "Forced redemption operators" group: exactly what the staff tool needs, ready to give to support staff.

Forcing (add, change, redeem, reverse: `force_redeem`), the records and their attempts, and the read
permissions behind the tool's pages and lookups: the policy autocomplete, "check redeemability", and the
linked learner, run, catalog, subsidy, transaction, enrollment and assignment. Members still need
"staff status" to sign in to the admin.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Forced redemption operators"
PERMISSIONS = [
    ("forced_redemptions", "add_forcedpolicyredemption"),
    ("forced_redemptions", "change_forcedpolicyredemption"),
    ("forced_redemptions", "view_forcedpolicyredemption"),
    ("forced_redemptions", "force_redeem"),
    ("forced_redemptions", "view_forcedredemptionattempt"),
    ("policies", "view_subsidyaccesspolicy"),
    ("policies", "check_redeemability"),
    ("customers", "view_enterprisecustomer"),
    ("customers", "view_enterprisecustomeruser"),
    ("catalog", "view_course"),
    ("catalog", "view_courserun"),
    ("catalog", "view_catalog"),
    ("subsidies", "view_subsidy"),
    ("subsidies", "view_transaction"),
    ("fulfillment", "view_enrollment"),
    ("assignments", "view_learnercontentassignment"),
]


def create_group(apps, schema_editor):
    # Permissions are made after migrations (post_migrate); on a new database make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in PERMISSIONS]
    group.permissions.set(wanted)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("forced_redemptions", "0003_downstream_fulfillment"),
        ("policies", "0002_policy_retired_at"),
        ("customers", "0001_initial"),
        ("catalog", "0001_initial"),
        ("subsidies", "0003_reference_fields"),
        ("fulfillment", "0002_downstream_fulfillment"),
        ("assignments", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
