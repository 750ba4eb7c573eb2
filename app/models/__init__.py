"""ORM classes, one file per table. Importing this package registers every table on ``Base.metadata``."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.deadline_alert import DeadlineAlert
from app.models.download import Download
from app.models.email import Email
from app.models.idempotency_key import IdempotencyKey
from app.models.job import Job
from app.models.manual_task import ManualTask
from app.models.operator import Operator
from app.models.operator_session import OperatorSession
from app.models.operator_sign_in_link import OperatorSignInLink
from app.models.privacy_request import CLOSED_AT, OPEN_STATUSES, PrivacyRequest
from app.models.rate_limit_window import RateLimitWindow
from app.models.recipient_notice import RecipientNotice
from app.models.request_event import RequestEvent
from app.models.request_event_text import RequestEventText
from app.models.webhook_delivery import WebhookDelivery
from app.models.webhook_delivery_attempt import WebhookDeliveryAttempt
from app.models.webhook_event import WebhookEvent
from app.models.webhook_subscription import WebhookSubscription

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
    "ManualTask",
    "Operator",
    "OperatorSession",
    "OperatorSignInLink",
    "PrivacyRequest",
    "RateLimitWindow",
    "RecipientNotice",
    "RequestEvent",
    "RequestEventText",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEvent",
    "WebhookSubscription",
]
