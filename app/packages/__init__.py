"""The customer's data package (contract section 6): data.json, one CSV per entity and report.html, zipped,
streamed and encrypted at rest.

json_writer (a JSON document in pieces) -> data_json (its layout, stream_json); csv_cells (what a cell holds)
-> csv_spool (a CSV per entity on disk); report_html (the readable page: templates/report.html in the reader's
language, Reader); zip_stream (zipfile on a drained buffer) -> zip_package (the entries in order, stream_zip);
crypto (encryption at rest) -> store (where packages wait: stores/file, stores/s3); streaming (async plumbing:
reading ahead, the first chunk before the answer).
"""

from app.packages.crypto import PackageError
from app.packages.data_json import stream_json
from app.packages.report_html import Reader
from app.packages.store import PackageStore, SavedPackage, StoreUnavailable
from app.packages.zip_package import stream_zip

__all__ = [
    "PackageError",
    "PackageStore",
    "Reader",
    "SavedPackage",
    "StoreUnavailable",
    "stream_json",
    "stream_zip",
]
