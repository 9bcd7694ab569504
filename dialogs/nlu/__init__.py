"""Embedded NLU: intents and entities in Russian and English, with Rasa's parse shape and an
optional Rasa server behind a fallback. No network or model download at run time."""

from dialogs.nlu.service import OUT_OF_SCOPE, NLUService

__all__ = ["OUT_OF_SCOPE", "NLUService"]
