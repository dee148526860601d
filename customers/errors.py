from common.errors import NotFound


class LearnerNotFound(NotFound):
    reason = "learner_not_found"
