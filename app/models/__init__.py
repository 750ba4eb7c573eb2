"""ORM classes, one file per table. Importing this package registers every table on ``Base.metadata``."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.deadline_alert import DeadlineAlert
from app.models.download import Download
from app.models.email import Email
from app.models.idempotency_key import IdempotencyKey
from app.models.job import Job
from app.models.privacy_request import CLOSED_AT, OPEN_STATUSES, PrivacyRequest
from app.models.request_event import RequestEvent

__all__ = [
    "CLOSED_AT",
    "OPEN_STATUSES",
    "ApiKey",
    "Base",
    "DeadlineAlert",
    "Download",
    "Email",
    "IdempotencyKey",
    "Job",
    "PrivacyRequest",
    "RequestEvent",
]
