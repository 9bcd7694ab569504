"""The whole chain with the real NLU: a customer's free text -> dialogs.nlu picks the intent ->
the engine runs that intent's flow -> a reply that is not the fallback, in ru and en; and the
same texts through POST /api/v1/nlu/parse give the same intents."""

from __future__ import annotations

from typing import Any

import pytest

from backend.i18n import t
from dialogs.engine import Engine
from dialogs.flows import default_flows
from dialogs.nlu.service import NLUService
from tests.dialogs.engine.conftest import Chat, texts
from tests.factories import make_customer, make_subscription, make_tariff

# (message, intent) per language: how customers write, not copied from the training data
CHATS = {
    "ru": [
        ("привет", "greet"),
        ("скажите пожалуйста сколько у меня сейчас денег на счёте", "check_balance"),
        ("хочу закинуть деньги на интернет", "top_up"),
        ("какие у вас есть тарифы подешевле", "list_tariffs"),
        ("можно взять обещанный платеж до зарплаты", "promised_payment"),
        ("у меня вообще не работает интернет с утра", "no_internet"),
        ("пришлите акт за прошлый месяц", "get_documents"),
        ("соедините меня с живым оператором", "talk_to_agent"),
    ],
    "en": [
        ("hi there", "greet"),
        ("how much money is left on my account", "check_balance"),
        ("i want to top up my balance", "top_up"),
        ("what plans do you offer", "list_tariffs"),
        ("can i get a promised payment until friday", "promised_payment"),
        ("my internet is down since this morning", "no_internet"),
        ("send me the act for last month", "get_documents"),
        ("let me talk to a real person", "talk_to_agent"),
    ],
}


class Recording:
    """The real NLU, remembering the intent it chose for each text."""

    def __init__(self, nlu: NLUService) -> None:
        self.nlu = nlu
        self.intents: list[str] = []

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        result = self.nlu.parse(text, lang)
        self.intents.append(result["intent"]["name"])
        return result


@pytest.fixture(scope="module")
def nlu() -> NLUService:
    service = NLUService()
    service.warm_up()
    return service


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_free_text_reaches_the_right_flow(resources, session, nlu, locale):
    tariff = await make_tariff(session, name=f"Дом 300 {locale}", price=70000)
    await make_tariff(session, name=f"Дом 100 {locale}", price=50000)
    _, customer = await make_customer(session, balance=35000, locale=locale)
    await make_subscription(session, customer, tariff)
    await session.commit()
    parser = Recording(nlu)
    engine = Engine(resources, parser, default_flows())
    registry = engine.registry
    fallback = t("dialogs-fallback", locale)
    for text, intent in CHATS[locale]:
        chat = Chat(engine, chat_id=f"chain-{locale}-{intent}", customer_id=customer.id,
                    locale=locale)  # fmt: skip
        replies = await chat.say(text)
        assert parser.intents[-1] == intent, (text, parser.intents[-1])
        assert registry.for_intent(intent) is not None, intent
        said = texts(replies)
        assert replies, text
        assert fallback not in said, (text, said)
        assert t("dialogs-error", locale) not in said, (text, said)


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_the_same_texts_through_the_parse_endpoint(client, locale):
    for text, intent in CHATS[locale]:
        r = await client.post("/api/v1/nlu/parse", json={"text": text, "lang": locale})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["intent"]["name"] == intent, (text, body["intent"])
        assert {"text", "intent", "entities", "intent_ranking"} <= set(body)
