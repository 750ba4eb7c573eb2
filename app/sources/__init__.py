"""Customer data sources (contract section 6): reading and erasing customers' data."""

from app.sources.base import Customer, Identity, Refusal, SourceError, SourcesFileError
from app.sources.service import DataSources

__all__ = [
    "Customer",
    "DataSources",
    "Identity",
    "Refusal",
    "SourceError",
    "SourcesFileError",
]
