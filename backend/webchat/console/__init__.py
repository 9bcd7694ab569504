"""The agent console: its pages and cookie session (`pages.py`, `session.py`) and its live
socket `/ws/agent` (`socket.py`). docs/agent-console.md describes it."""
