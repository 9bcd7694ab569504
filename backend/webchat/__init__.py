"""The dialog engine's HTTP faces: NLU parse (and later the widget socket, agent API, Rasa
webhook)."""
