"""Mounts every domain router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from backend.audit.endpoints import router as audit_router
from backend.auth.admin_endpoints import enrolment_router as auth_enrolment_router
from backend.auth.admin_endpoints import router as admin_users_router
from backend.auth.endpoints import router as auth_router
from backend.billing.action_endpoints import router as billing_actions_router
from backend.billing.endpoints import router as billing_router
from backend.broadcasts.endpoints import router as broadcasts_router
from backend.customers.anonymise_endpoints import router as customers_anonymise_router
from backend.customers.endpoints import router as customers_router
from backend.customers.linking_endpoints import router as linking_router
from backend.customers.unsubscribe import router as unsubscribe_router
from backend.documents.endpoints import router as documents_router
from backend.documents.generate_endpoints import router as documents_generate_router
from backend.network.endpoints import router as network_router
from backend.payments.endpoints import router as payments_router
from backend.support.endpoints import router as support_router
from backend.webchat.agent_endpoints import router as agent_router
from backend.webchat.console_api import router as console_api_router
from backend.webchat.file_endpoints import router as webchat_files_router
from backend.webchat.nlu_endpoints import router as nlu_router
from backend.webchat.session_endpoints import router as webchat_session_router

API_PREFIX = "/api/v1"

# Mounted one by one on the app (backend/app.py) rather than nested under one /api/v1 router:
# every level of nesting adds a walk over the routes to each request.
DOMAIN_ROUTERS: tuple[APIRouter, ...] = (
    billing_router,  # first: the balance is the hottest read and routes are matched in order
    auth_router,
    customers_router,
    customers_anonymise_router,
    linking_router,
    unsubscribe_router,
    billing_actions_router,
    support_router,
    documents_router,
    documents_generate_router,
    audit_router,
    admin_users_router,
    auth_enrolment_router,
    payments_router,
    network_router,
    broadcasts_router,
    nlu_router,
    agent_router,
    console_api_router,
    webchat_session_router,
    webchat_files_router,
)
