"""Who is asking (contract section 7), decided in one place for every submission.

An app key ships inside the apps, so it is public: it never decides whose data is sent or erased. What does:
a verified customer token, an operator who checked the person's identity, or an email address, whose mailbox
then receives every email (so only its owner can confirm an erasure or download the data).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.keys import Principal, Role
from app.core.errors import Unauthorized, ValidationFailed
from app.requests.schemas import SubmitRequest
from app.sources import Customer, DataSources


@dataclass(frozen=True)
class Requester:
    """The subject of a new request: the matched customer (or none) and the one address it concerns.

    For a matched customer ``email`` is the directory's address on file (lowercased), never a submitted
    one: every email goes there, and data is collected and erased for that customer and that address only.
    """

    customer: Customer | None
    email: str | None
    # Proven: a verified customer token, or an operator who checked the identity. An unproven request (an app
    # naming an address only) never merges with a proven one: it cannot set the person's own request's
    # deadline, language or confirmation link, nor learn of it from a 200.
    proven: bool

    @property
    def subject(self) -> str:
        """One open request per subject and type: the customer (or the address) when proven; else the address
        as an unproven subject of its own."""
        if not self.proven:
            return f"u:{self.email}"
        return f"c:{self.customer.id}" if self.customer is not None else f"e:{self.email}"


def _refuse(field: str, detail: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields=[{"field": field, "detail": detail}])


async def identify(
    sources: DataSources,
    *,
    principal: Principal,
    body: SubmitRequest,
    token_customer_id: str | None,
    token_required: bool,
) -> Requester:
    """Apply section 7's rules: a 401 or 422 for a submission that may not name this person."""
    is_operator = principal.has(Role.OPERATOR)
    if body.note is not None and not is_operator:
        raise _refuse("note", "only operators may add a note", "Only operators may add a note to a request.")
    if token_customer_id is not None:
        return await _signed_in(sources, body=body, customer_id=token_customer_id)
    if token_required and not is_operator:
        raise Unauthorized("A signed-in customer token is required: send 'X-Customer-Token: <JWT>'.")
    if body.email is None and body.customer_id is None:
        # With a customer token the body may name no one; without one it must.
        raise _refuse(
            "body",
            "give at least one of email and customer_id",
            "Give at least one of email and customer_id.",
        )
    if is_operator:
        return await _entered_by_operator(sources, body=body)
    if body.customer_id is not None:
        # Decided before any look-up: the answer is the same for every id, existing or not.
        raise _refuse(
            "customer_id",
            "needs a signed-in customer token (X-Customer-Token)",
            "customer_id can only be sent with a signed-in customer's token; send the email address instead.",
        )
    assert body.email is not None
    customer = await sources.find_customer(email=body.email)
    return Requester(customer=customer, email=_on_file(customer) if customer else body.email, proven=False)


async def _signed_in(sources: DataSources, *, body: SubmitRequest, customer_id: str) -> Requester:
    if body.customer_id is not None and body.customer_id != customer_id:
        raise _refuse(
            "customer_id",
            "differs from the signed-in customer",
            "customer_id must be the signed-in customer's own id.",
        )
    customer = await sources.find_customer(customer_id=customer_id)
    if customer is None:
        # The caller proved to be this customer, so saying the directory lacks them reveals nothing to others.
        raise _refuse(
            "customer_id",
            "the signed-in customer is not in the customer directory",
            "The signed-in customer is not in the customer directory.",
        )
    _check_email(body, customer)
    return Requester(customer=customer, email=_on_file(customer), proven=True)


async def _entered_by_operator(sources: DataSources, *, body: SubmitRequest) -> Requester:
    if body.customer_id is None:
        assert body.email is not None
        customer = await sources.find_customer(email=body.email)
        return Requester(customer=customer, email=_on_file(customer) if customer else body.email, proven=True)
    customer = await sources.find_customer(customer_id=body.customer_id)
    if customer is None:
        raise _refuse("customer_id", "no customer has this id", "No customer has this customer_id.")
    _check_email(body, customer)
    return Requester(customer=customer, email=_on_file(customer), proven=True)


def _check_email(body: SubmitRequest, customer: Customer) -> None:
    if body.email is not None and body.email != _on_file(customer):
        raise _refuse(
            "email",
            "differs from the customer's address on file",
            "email must be the customer's address on file (emails go only there); leave it out to use it.",
        )


def _on_file(customer: Customer) -> str | None:
    return customer.email.strip().lower() if customer.email else None
