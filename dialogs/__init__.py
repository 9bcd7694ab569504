"""The channel-agnostic conversation engine: flows, NLU, the Rasa bridge.

Never imports aiogram or fastapi."""
