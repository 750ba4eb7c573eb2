import uuid
from datetime import datetime

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class DeadlineAlert(Base):
    """Records that the privacy team was alerted about a request for one threshold (or overdue): once each."""

    __tablename__ = "deadline_alerts"

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
