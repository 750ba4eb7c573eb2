"""Admin endpoints for API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
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


@router.get("", response_model=list[ApiKeyOut])
async def list_api_keys(_principal: AdminKey, session: SessionDep) -> list[dict[str, Any]]:
    return [_out(key) for key in await list_keys(session)]


@router.post("", response_model=ApiKeyCreated, status_code=201)
async def create_api_key(body: ApiKeyCreate, _principal: AdminKey, session: SessionDep) -> dict[str, Any]:
    key, plaintext = await create_key(session, name=body.name, role=body.role)
    return {**_out(key), "key": plaintext}


@router.delete("/{key_id}", response_model=ApiKeyOut)
async def revoke_api_key(key_id: uuid.UUID, _principal: AdminKey, session: SessionDep) -> dict[str, Any]:
    return _out(await revoke_key(session, key_id))
