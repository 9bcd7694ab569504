#!/usr/bin/env bash
# Set up and run provider-desk on the embedded default (SQLite + in-process Redis stand-in),
# with demo data, on http://127.0.0.1:8000. Any argument is passed to main.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python main.py "$@"
