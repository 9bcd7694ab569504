"""Mounts every domain router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from backend.audit.endpoints import router as audit_router
from backend.auth.endpoints import router as auth_router
from backend.billing.actions import router as billing_actions_router
from backend.billing.endpoints import router as billing_router
from backend.customers.endpoints import router as customers_router
from backend.documents.endpoints import router as documents_router
from backend.documents.generate_endpoints import router as documents_generate_router
from backend.payments.endpoints import router as payments_router
from backend.support.endpoints import router as support_router
from backend.webchat.agent_endpoints import router as agent_router
from backend.webchat.nlu_endpoints import router as nlu_router

api_router = APIRouter(prefix="/api/v1")
for router in (
    auth_router,
    customers_router,
    billing_router,
    billing_actions_router,
    support_router,
    documents_router,
    documents_generate_router,
    audit_router,
    payments_router,
    nlu_router,
    agent_router,
):
    api_router.include_router(router)
