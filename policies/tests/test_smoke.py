from policies.models import SubsidyAccessPolicy
from policies.services import redeem
from testing.factories import CatalogFactory, CourseRunFactory, LearnerFactory, make_policy


def test_direct_redemption_charges_and_enrolls(db):
    run = CourseRunFactory()
    learner = LearnerFactory()
    catalog = CatalogFactory(customer=learner.customer, runs=[run])
    policy = make_policy(customer=learner.customer, catalog=catalog, spend_limit_cents=100_000)
    result = redeem(policy=policy, lms_user_id=learner.lms_user_id, content_key=run.key)
    assert result.created and result.transaction.quantity == -run.price_cents
    assert SubsidyAccessPolicy.objects.count() == 1
