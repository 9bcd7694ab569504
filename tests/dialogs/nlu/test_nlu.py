from __future__ import annotations

import io
import json

import pytest

from dialogs.nlu import language
from dialogs.nlu.cli import default_test_paths, evaluate, parse_stream, run_test
from dialogs.nlu.data import INTENTS, load_yaml, training_path


def ents(result, name):
    return [e["value"] for e in result["entities"] if e["entity"] == name]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_training_data_covers_catalogue_and_heldout_is_separate(lang):
    train = load_yaml(training_path(lang))
    assert {e.intent for e in train} == set(INTENTS)
    heldout = next(p for p in default_test_paths() if p.stem.endswith(lang))
    held = load_yaml(heldout)
    counts = {i: sum(1 for e in held if e.intent == i) for i in INTENTS}
    assert min(counts.values()) >= 15
    assert not {e.text.lower() for e in train} & {e.text.lower() for e in held}


@pytest.mark.parametrize(("lang", "floor"), [("ru", 0.9), ("en", 0.915)])
def test_heldout_accuracy(nlu, lang, floor):
    path = next(p for p in default_test_paths() if p.stem.endswith(lang))
    result = evaluate(path, nlu)
    assert result["accuracy"] >= floor, result["errors"]


def test_run_test_prints_accuracy_and_f1(nlu):
    out = io.StringIO()
    assert run_test(None, out, nlu) == 0
    text = out.getvalue()
    assert "accuracy: 0." in text
    assert "check_balance" in text and "f1" in text


def test_parse_shape(nlu):
    r = nlu.parse("пополнить баланс на 500", "ru")
    assert set(r) >= {"text", "intent", "entities", "intent_ranking"}
    assert r["text"] == "пополнить баланс на 500"
    assert r["intent"]["name"] == "top_up"
    assert 0 < r["intent"]["confidence"] <= 1
    assert r["intent_ranking"][0]["name"] == "top_up"
    assert all(set(x) == {"name", "confidence"} for x in r["intent_ranking"])
    assert r["entities"] == [{"entity": "amount", "value": 500, "start": 20, "end": 23}]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("ne rabotaet internet", "no_internet"),
        ("какой у меня баланс", "check_balance"),
        ("история платежей", "payment_history"),
        ("интернет тормозит", "slow_internet"),
        ("what is my balance", "check_balance"),
        ("show my payment history", "payment_history"),
        ("switch to turbo", "change_tariff"),
        ("позовите оператора", "talk_to_agent"),
    ],
)
def test_intents(nlu, text, intent):
    assert nlu.parse(text)["intent"]["name"] == intent


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("пополнить на 500", 500),
        ("закинь 1 000 р", 1000),
        ("положи 1000р", 1000),
        ("оплатить 1к", 1000),
        ("закинуть полторы тыщи", 1500),
        ("хочу закинуть тыщу", 1000),
        ("top up five hundred", 500),
        ("add 2 000 rubles", 2000),
    ],
)
def test_amounts(nlu, text, amount):
    assert ents(nlu.parse(text), "amount") == [amount]


@pytest.mark.parametrize(
    "text", ["плачу за 100 мегабит", "ошибка 651", "статус заявки 4521", "акт за 1 июня"]
)
def test_numbers_that_are_not_amounts(nlu, text):
    assert ents(nlu.parse(text), "amount") == []


def test_entities_both_languages(nlu):
    r = nlu.parse("пришлите счет за октябрь", "ru")
    assert r["intent"]["name"] == "get_documents"
    assert ents(r, "document_type") == ["invoice"]
    assert ents(r, "period") == ["2026-10"]
    r = nlu.parse("send me the act for last month", "en")
    assert ents(r, "document_type") == ["act"] and ents(r, "period") == ["2026-10"]
    assert ents(nlu.parse("копия договора"), "document_type") == ["contract"]
    assert ents(nlu.parse("статус заявки №4521"), "ticket_id") == ["4521"]
    assert ents(nlu.parse("where is ticket #778"), "ticket_id") == ["778"]
    assert ents(nlu.parse("invoice for december"), "period") == ["2025-12"]
    r = nlu.parse("перейти на домашний", "ru")
    assert ents(r, "tariff") == ["Домашний 100"]
    assert ents(nlu.parse("switch to turbo 500"), "tariff") == ["Турбо 500"]
    # The account, not a document: no document_type for "счёт" outside get_documents.
    assert ents(nlu.parse("пополнить счет"), "document_type") == []


def test_tariff_names_update_at_run_time(nlu):
    assert ents(nlu.parse("хочу на Космос"), "tariff") == []
    old = nlu.tariff_names
    try:
        nlu.set_tariff_names([*old, "Космос"])
        r = nlu.parse("хочу на космос")
        assert ents(r, "tariff") == ["Космос"]
        assert r["entities"][0]["start"] == 8
    finally:
        nlu.set_tariff_names(old)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("привет", "ru"),
        ("ne rabotaet internet", "ru"),
        ("kakoy u menya balans", "ru"),
        ("my internet is down", "en"),
        ("hello", "en"),
    ],
)
def test_language_detection(text, lang):
    assert language.detect(text)[0] == lang


def test_third_language_is_low_confidence(nlu):
    assert language.detect("我的网络不工作")[1] < 0.3
    assert language.detect("Wie ist mein Kontostand heute")[1] < 0.5
    assert nlu.parse("我的网络不工作")["intent"]["name"] == "out_of_scope"


@pytest.mark.parametrize(
    "text", ["", "   ", "😀😀🔥", "!!!???", "x" * 10_000, "баланс " * 2000, "\x00\n\t", "我的网络"]
)
def test_bad_inputs_give_valid_parse(nlu, text):
    r = nlu.parse(text)
    assert r["text"] == text
    assert isinstance(r["intent"]["name"], str)
    assert isinstance(r["intent_ranking"], list)
    if not any(c.isalnum() for c in text):
        assert r["intent"]["name"] == "out_of_scope"


def test_parse_stream(nlu):
    stdin = io.StringIO(
        '{"text": "какой баланс", "lang": "ru"}\nnot json\n{"text": "hi"}\n\n{"lang": "en"}\n'
    )
    out = io.StringIO()
    assert parse_stream(stdin, out, nlu) == 1
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == 4
    assert lines[0]["intent"]["name"] == "check_balance"
    assert "error" in lines[1] and "error" in lines[3]
    assert lines[2]["intent"]["name"] == "greet"


def test_generation_is_deterministic():
    from dialogs.nlu.data import training_set

    assert training_set("ru") == training_set("ru")
