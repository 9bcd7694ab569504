#!/usr/bin/env bash
# Make sure what the tests need is here: PostgreSQL and Redis answering on 127.0.0.1 (started
# if installed but stopped) and Chromium; missing packages are installed from Debian's
# repositories when we are root.
set -euo pipefail

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

wait_for() {
    local name="$1" check="$2"
    for _ in $(seq 1 60); do
        if "$check"; then return 0; fi
        sleep 0.5
    done
    echo "$name did not come up on 127.0.0.1" >&2
    return 1
}

apt_install() {
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
        echo "Please install: $* (the tests need PostgreSQL on 127.0.0.1:5432 with trust auth" \
             "for user postgres, Redis on 127.0.0.1:6379 and Chromium; or set" \
             "TEST_DATABASE_URL, TEST_REDIS_URL and CHROMIUM_PATH)." >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
if ! command -v chromium >/dev/null && [ -z "${CHROMIUM_PATH:-}" ]; then
    apt_install chromium fonts-dejavu-core fonts-noto-color-emoji
fi
# the bot's buttons carry emoji; without the font the screenshots in docs/img show boxes
if command -v chromium >/dev/null && [ ! -d /usr/share/fonts/truetype/noto ] && [ "$(id -u)" = 0 ]; then
    apt_install fonts-noto-color-emoji
fi

if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
    exit 0  # the caller provides its own services
fi

if ! pg_up; then
    if ! command -v pg_ctlcluster >/dev/null; then
        apt_install postgresql
    fi
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    hba="/etc/postgresql/${version}/main/pg_hba.conf"
    # Tests connect as postgres over TCP without a password (a throwaway local database).
    if [ -f "$hba" ] && ! grep -q "provider-desk tests" "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust # provider-desk tests' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for PostgreSQL pg_up
fi

if ! redis_up; then
    if ! command -v redis-server >/dev/null; then
        apt_install redis-server
    fi
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_for Redis redis_up
fi
