"""Customer data sources (contract section 6): reading, packaging and erasing customers' data."""

from app.packages.crypto import PackageError
from app.packages.package import read_encrypted_package, stream_json, stream_zip, write_encrypted_package
from app.sources.base import Customer, Identity, Refusal, SourceError, SourcesError
from app.sources.service import DataSources

__all__ = [
    "Customer",
    "DataSources",
    "Identity",
    "PackageError",
    "Refusal",
    "SourceError",
    "SourcesError",
    "read_encrypted_package",
    "stream_json",
    "stream_zip",
    "write_encrypted_package",
]
