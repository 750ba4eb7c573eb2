"""The customer's data package (contract section 6): data.json, one CSV per entity and report.html, zipped,
streamed and encrypted at rest."""

from app.packages.crypto import PackageError
from app.packages.package import read_encrypted_package, stream_json, stream_zip, write_encrypted_package

__all__ = ["PackageError", "read_encrypted_package", "stream_json", "stream_zip", "write_encrypted_package"]
