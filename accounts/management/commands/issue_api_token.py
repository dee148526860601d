"""Print an API token for a (new or existing) user, optionally a learner and/or a customer member."""

import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import CustomerMembership, MembershipRole
from accounts.services import provision_api_user
from common.errors import DomainError

# The customer model through the membership's relation: accounts does not import the customers app
# (customers' API imports accounts' permissions; the other way round would be an import cycle).
EnterpriseCustomer = CustomerMembership._meta.get_field("customer").related_model


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Command(BaseCommand):
    help = "Create or update an API user and print its token (learner: --lms-user-id; admin: --customer --role)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--lms-user-id", type=int, help="The learner this user acts as.")
        parser.add_argument("--customer", help="Customer uuid or slug to make the user a member of.")
        parser.add_argument("--role", default=MembershipRole.LEARNER, choices=MembershipRole.values)

    def handle(self, *args, username, lms_user_id, customer, role, **options):
        found = None
        if customer:
            found = EnterpriseCustomer.objects.filter(slug=customer).first()
            if found is None and _is_uuid(customer):
                found = EnterpriseCustomer.objects.filter(pk=customer).first()
            if found is None:
                raise CommandError(f"No customer with uuid or slug {customer!r}.")
        try:
            _, token = provision_api_user(username=username, lms_user_id=lms_user_id, customer=found, role=role)
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(token.key)
