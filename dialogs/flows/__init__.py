"""The flows the engine runs. `default_flows()` is the registry the adapters use; a new flow is
a module here plus one line below (docs/dialogs.md, "Adding a flow")."""

from __future__ import annotations

from dialogs.flows import (
    connect,
    documents,
    no_internet,
    promised,
    services,
    settings,
    suspend,
    tariffs,
    tickets,
)
from dialogs.flows.agent import TalkToAgentFlow
from dialogs.flows.balance import CheckBalanceFlow, PaymentHistoryFlow
from dialogs.flows.base import Flow, Registry
from dialogs.flows.identify import IdentifyFlow
from dialogs.flows.menu import GreetingFlow, SmallTalkFlow
from dialogs.flows.topup import TopUpFlow


def default_flows() -> Registry:
    greeting = GreetingFlow()
    flows: list[Flow] = [
        greeting,
        SmallTalkFlow(),
        IdentifyFlow(),
        CheckBalanceFlow(),
        PaymentHistoryFlow(),
        TopUpFlow(),
        TalkToAgentFlow(),
        *promised.flows(),
        *tariffs.flows(),
        *services.flows(),
        *suspend.flows(),
        *settings.flows(),
        *no_internet.flows(),
        *tickets.flows(),
        *documents.flows(),
        *connect.flows(),
    ]
    registry = Registry(flows)
    greeting.registry = registry
    return registry


__all__ = ["Flow", "Registry", "default_flows"]
