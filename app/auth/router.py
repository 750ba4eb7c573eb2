"""Admin endpoints for API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from app.auth.dependencies import AdminKey
from app.auth.keys import Role, create_key, list_keys, revoke_key
from app.core.db import SessionDep
from app.models import ApiKey

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    role: Role


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself; shown this once and never again.")


def _out(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


_ADMIN = "**Roles:** `admin`."


@router.get(
    "",
    response_model=list[ApiKeyOut],
    summary="List API keys",
    description="Every API key, revoked ones too, with its name, role, prefix (the first characters, to tell "
    f"keys apart) and dates. The keys themselves are never shown again.\n\n{_ADMIN}",
)
async def list_api_keys(_principal: AdminKey, session: SessionDep) -> list[dict[str, Any]]:
    return [_out(key) for key in await list_keys(session)]


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=201,
    summary="Create an API key",
    description="Creates a key with a role: `app` (ships inside the mobile apps and web sites: submit and read "
    "requests), `operator` (the cockpit), `admin` (operator, plus API keys). The answer holds the key itself "
    "(`key`) this once; only its hash is stored.\n\n"
    f"{_ADMIN}\n\n**Errors:**\n- 422 `validation_error`: a name that is empty, longer than 100 characters or "
    "holds control characters, or an unknown role.",
)
async def create_api_key(
    body: Annotated[
        ApiKeyCreate,
        Body(
            openapi_examples={
                "cockpit": {
                    "summary": "A key for the cockpit",
                    "value": {"name": "cockpit", "role": "operator"},
                },
                "ios": {"summary": "A key for the iOS app", "value": {"name": "ios-app", "role": "app"}},
            }
        ),
    ],
    _principal: AdminKey,
    session: SessionDep,
) -> dict[str, Any]:
    key, plaintext = await create_key(session, name=body.name, role=body.role)
    return {**_out(key), "key": plaintext}


@router.delete(
    "/{key_id}",
    response_model=ApiKeyOut,
    summary="Revoke an API key",
    description="Revokes the key: it stops working at once (401). Revoking a revoked key changes nothing and "
    f"answers the key as it is.\n\n{_ADMIN}\n\n**Errors:**\n- 404 `not_found`: no API key has this id.",
    responses={404: {"description": "`not_found`: no API key has this id."}},
)
async def revoke_api_key(key_id: uuid.UUID, _principal: AdminKey, session: SessionDep) -> dict[str, Any]:
    return _out(await revoke_key(session, key_id))
