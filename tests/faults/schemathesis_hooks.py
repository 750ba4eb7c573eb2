"""Loaded by the schemathesis CLI (``SCHEMATHESIS_HOOKS``) in tests/faults/test_schemathesis.py.

Two checks run through a wrapper, each for one documented business behaviour:
- ``positive_data_acceptance``: a schema-valid request may be refused with 422 only for a business rule that the
  operation's description documents (who may name which customer, an unknown customer, a cursor this API did
  not return). Each rule is matched by the exact sentence the service answers, so any other 422 for a
  schema-valid request (a constraint the schema does not state) still fails the run.
- ``use_after_free``: ``DELETE /v1/privacy-requests/{id}`` dismisses a request, and the record and its timeline
  stay readable (status ``deleted``) by design (accountability; documented on the operation); so do a deleted
  webhook and its deliveries. Every other deleted resource is still checked.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance, use_after_free

# The `detail` of each documented business refusal (see the operations' "Errors" in the OpenAPI document).
BUSINESS_REFUSALS = {
    # POST /v1/privacy-requests: who may name whom (README "Who is asking").
    "Give at least one of email and customer_id.",
    "customer_id can only be sent with a signed-in customer's token; send the email address instead.",
    "No customer has this customer_id.",
    "Only operators may add a note to a request.",
    "email must be the customer's address on file (emails go only there); leave it out to use it.",
    # GET /v1/privacy-requests: a cursor is opaque; only one this API returned works.
    "The cursor is not one this API returned.",
    "The cursor belongs to another sort order.",
    # GET /v1/webhooks/{webhook_id}/deliveries: the same for its cursor.
    "cursor: not a cursor this list gave out",
    # POST /v1/privacy-requests/bulk/accept and .../bulk/dismiss: at most 10,000 requests per call.
    "The selection holds more than 10,000 requests; narrow it (e.g. with received_before).",
}
# GET /v1/privacy-requests: a time the service cannot represent in UTC (e.g. year 1 with a positive offset).
OUT_OF_RANGE = (
    "due_before is out of range.",
    "received_after is out of range.",
    "received_before is out of range.",
    # The bulk actions' `filter` object.
    "filter.due_before is out of range.",
    "filter.received_after is out of range.",
    "filter.received_before is out of range.",
)


def _detail(response: Any) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


@schemathesis.check
def positive_data_acceptance_but_documented_refusals(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except a 422 that is one of the documented business refusals."""
    if response.status_code == 422:
        detail = _detail(response)
        if detail in BUSINESS_REFUSALS or detail in OUT_OF_RANGE:
            return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


@schemathesis.check
def use_after_free_but_dismissed_requests(ctx: Any, response: Any, case: Any) -> bool | None:
    """``use_after_free``, except reading a dismissed privacy request, which stays on record, and a deleted
    webhook's deliveries, which stay listed (documented on DELETE /v1/webhooks/{webhook_id})."""
    if case.path.startswith(("/v1/privacy-requests/{request_id}", "/v1/webhooks/{webhook_id}")):
        return None
    result: bool | None = use_after_free(ctx, response, case)
    return result
