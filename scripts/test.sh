#!/usr/bin/env bash
# Set up and run the whole test suite against real PostgreSQL and Redis on 127.0.0.1
# (started, or installed from Debian's packages when run as root, if they are missing).
# Any argument is passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
scripts/services.sh
exec .venv/bin/python -m pytest "$@"
