"""Staff UI for API identities and customer memberships, with an action that issues API tokens."""

from django.contrib import admin, messages
from rest_framework.authtoken.models import Token
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import ApiIdentity, CustomerMembership


@admin.register(ApiIdentity)
class ApiIdentityAdmin(SimpleHistoryAdmin):
    list_display = ("user", "lms_user_id", "modified")
    search_fields = ("user__username", "user__email", "lms_user_id")
    autocomplete_fields = ("user",)
    actions = ["issue_token"]

    @admin.action(description="Issue an API token (or show the existing one)")
    def issue_token(self, request, queryset):
        for identity in queryset.select_related("user"):
            token, created = Token.objects.get_or_create(user=identity.user)
            verb = "Issued" if created else "Existing"
            self.message_user(request, f"{verb} token for {identity.user}: {token.key}", messages.SUCCESS)


@admin.register(CustomerMembership)
class CustomerMembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "customer", "role", "modified")
    list_filter = ("role", "customer")
    search_fields = ("user__username", "user__email", "customer__name")
    autocomplete_fields = ("user",)
