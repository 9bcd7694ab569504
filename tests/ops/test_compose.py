"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the Compose
Specification rules that break a deployment, and the contract with our own code (settings
names, main.py subcommands)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

import main
from backend.config import ROOT_DIR, Settings

COMPOSE_FILE = ROOT_DIR / "docker-compose.yml"
DOCKERFILE = ROOT_DIR / "Dockerfile"
DOCKERIGNORE = ROOT_DIR / ".dockerignore"

TOP_LEVEL_KEYS = {"version", "name", "include", "services", "networks", "volumes", "configs",
                  "secrets", "models"}  # fmt: skip
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules",
    "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "label_file",
    "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
    "memswap_limit", "models", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop",
    "privileged", "profiles", "provider", "pull_policy", "read_only", "restart", "runtime",
    "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket",
    "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}  # fmt: skip
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period",
                    "start_interval", "disable"}  # fmt: skip
RESTART_POLICIES = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
PORT = re.compile(
    r"^(?:(?:\[[0-9a-fA-F:]+\]|[\d.]+):)?"  # optional host IP
    r"(?:(\d+)(?:-(\d+))?:)?"  # optional published port (range)
    r"(\d+)(?:-(\d+))?"  # container port (range)
    r"(?:/(tcp|udp|sctp))?$"
)
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
# Variables of the interpreter and the installer, not of our application.
RUNTIME_ENV = re.compile(r"^(PYTHON|PIP_)[A-Z0-9_]*$")


def _load() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


COMPOSE = _load()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _our_image(service: dict[str, Any]) -> bool:
    """Services that run the image built from ./Dockerfile."""
    image = str(service.get("image", ""))
    return "build" in service or image.split(":")[0] == "provider-desk"


OURS = sorted(name for name, s in SERVICES.items() if _our_image(s))


def _env_names(service: dict[str, Any]) -> list[str]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return [str(k) for k in env]
    return [str(item).split("=", 1)[0] for item in env]


def _depends(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(d): {"condition": "service_started"} for d in deps}
    return {str(k): (v or {}) for k, v in deps.items()}


def _command(value: Any) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)  # line continuations
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _exec_form(rest: str) -> list[str]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        return shlex.split(rest)
    assert isinstance(value, list)
    return [str(v) for v in value]


# --- Compose Specification ---------------------------------------------------------------


def test_top_level_keys_are_valid():
    unknown = {k for k in COMPOSE if k not in TOP_LEVEL_KEYS and not k.startswith("x-")}
    assert unknown == set()
    assert SERVICES, "no services"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_keys_are_valid(name):
    service = SERVICES[name]
    unknown = {k for k in service if k not in SERVICE_KEYS and not k.startswith("x-")}
    assert unknown == set()
    assert "image" in service or "build" in service
    if "restart" in service:
        assert RESTART_POLICIES.match(str(service["restart"]))


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_targets_exist_with_valid_conditions(name):
    for target, options in _depends(SERVICES[name]).items():
        assert target in SERVICES, f"{name} depends on unknown service {target}"
        assert target != name
        condition = options.get("condition", "service_started")
        assert condition in DEPENDS_CONDITIONS
        if condition == "service_healthy":
            check = SERVICES[target].get("healthcheck") or {}
            reason = f"{name} waits for {target} to be healthy, but it has no healthcheck"
            assert check.get("test"), reason
            assert not check.get("disable"), reason


def test_depends_on_has_no_cycles():
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "visiting", f"dependency cycle: {[*path, node]}"
        state[node] = "visiting"
        for target in _depends(SERVICES[node]):
            visit(target, [*path, node])
        state[node] = "done"

    for name in SERVICES:
        visit(name, [])


def test_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for service in SERVICES.values():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                if volume.get("type", "volume") == "volume" and volume.get("source"):
                    used.add(volume["source"])
                continue
            source = str(volume).split(":")[0]
            if ":" in str(volume) and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert used - declared == set(), "named volumes used but not declared"
    assert declared - used == set(), "volumes declared but never used"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_healthchecks_are_well_formed(name):
    check = SERVICES[name].get("healthcheck")
    if check is None:
        return
    assert set(check) <= HEALTHCHECK_KEYS
    if check.get("disable"):
        return
    test = check.get("test")
    assert test, f"{name}: a healthcheck needs a test"
    if isinstance(test, list):
        assert test[0] in {"NONE", "CMD", "CMD-SHELL"}
        assert len(test) >= 2 or test[0] == "NONE"
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if key in check:
            assert DURATION.match(str(check[key])), f"{name}: bad {key} {check[key]!r}"
    if "retries" in check:
        assert isinstance(check["retries"], int)
        assert check["retries"] > 0


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_ports_are_well_formed(name):
    for port in SERVICES[name].get("ports") or []:
        if isinstance(port, dict):
            assert isinstance(port.get("target"), int)
            continue
        m = PORT.match(str(port))
        assert m, f"{name}: bad port {port!r}"
        numbers = [int(g) for g in m.groups()[:4] if g]
        assert all(0 < n < 65536 for n in numbers)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_env_files_exist_or_are_optional(name):
    env_file = SERVICES[name].get("env_file") or []
    for entry in [env_file] if isinstance(env_file, str | dict) else env_file:
        if isinstance(entry, dict):
            if entry.get("required", True):
                assert (ROOT_DIR / entry["path"]).exists()
        else:
            assert (ROOT_DIR / entry).exists(), f"{name}: env_file {entry} is missing"


# --- the contract with our code ------------------------------------------------------------


def test_the_expected_services_exist():
    assert {"postgres", "redis", "migrate", "api", "worker", "bot"} <= set(SERVICES)
    assert str(SERVICES["postgres"]["image"]).startswith("postgres:15")
    assert str(SERVICES["redis"]["image"]).startswith("redis:7")
    assert set(OURS) == {"migrate", "api", "worker", "bot"}
    # one image for every role
    assert len({(str(SERVICES[n].get("build")), SERVICES[n].get("image")) for n in OURS}) == 1
    assert SERVICES["bot"].get("profiles") == ["telegram"]
    for name in ("api", "worker", "migrate"):
        assert not SERVICES[name].get("profiles"), f"{name} must start by default"


def test_api_waits_for_healthy_stores_and_migrations():
    deps = _depends(SERVICES["api"])
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    for name in ("worker", "bot"):
        assert _depends(SERVICES[name])["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert SERVICES["migrate"].get("restart") == "no"
    assert "8000" in str(SERVICES["api"]["ports"][0]).split(":")[-1]
    check = SERVICES["api"]["healthcheck"]
    assert "/health" in " ".join(_command(check["test"]))


def test_stores_have_persistent_volumes_and_healthchecks():
    assert any(":/var/lib/postgresql/data" in str(v) for v in SERVICES["postgres"]["volumes"])
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert SERVICES["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


@pytest.mark.parametrize("name", OURS)
def test_our_services_set_only_settings_variables(name):
    unknown = [n for n in _env_names(SERVICES[name]) if n not in SETTINGS_ENV]
    assert unknown == [], f"{name} sets variables that Settings does not read"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - set(OURS)))
def test_other_services_set_only_their_own_variables(name):
    allowed = re.compile(r"^POSTGRES_") if name == "postgres" else re.compile(r"^$")
    assert [n for n in _env_names(SERVICES[name]) if not allowed.match(n)] == []


def test_app_gets_database_and_redis_from_compose():
    for name in OURS:
        env = SERVICES[name]["environment"]
        assert str(env["DATABASE_URL"]).startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in str(env["DATABASE_URL"])
        assert str(env["REDIS_URL"]).startswith("redis://redis:6379")


@pytest.mark.parametrize("name", OURS)
def test_service_commands_are_main_subcommands(name):
    command = _command(SERVICES[name]["command"])
    assert command[:2] == ["python", "main.py"]
    assert len(command) == 3
    assert command[2] in main.COMMANDS, f"main.py has no `{command[2]}` command"


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_base_user_and_install():
    instructions = _dockerfile_instructions()
    keywords = [k for k, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [rest for k, rest in instructions if k == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # the last USER comes before the command that runs
    assert max(i for i, k in enumerate(keywords) if k == "USER") < keywords.index("CMD")
    runs = " ".join(rest for k, rest in instructions if k == "RUN")
    assert re.search(r"pip install (--no-deps )?\.", runs)


def test_dockerfile_command_is_a_main_subcommand():
    instructions = _dockerfile_instructions()
    assert not [rest for k, rest in instructions if k == "ENTRYPOINT"]
    [cmd] = [_exec_form(rest) for k, rest in instructions if k == "CMD"]
    assert cmd == ["python", "main.py", "api"]
    assert cmd[2] in main.COMMANDS


def test_dockerfile_healthcheck_probes_health():
    [check] = [rest for k, rest in _dockerfile_instructions() if k == "HEALTHCHECK"]
    assert " CMD " in f" {check} "
    assert "/health" in check


def test_dockerfile_env_names_are_settings_or_runtime():
    names: list[str] = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "ENV":
            names += [part.split("=", 1)[0] for part in shlex.split(rest) if "=" in part]
    assert names, "expected HOST/PORT in the image environment"
    assert [n for n in names if n not in SETTINGS_ENV and not RUNTIME_ENV.match(n)] == []
    assert "HOST" in names  # a container must listen beyond its loopback


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", ".git", "data"} <= patterns
    assert "!.env.example" in patterns


def test_files_the_image_needs_are_not_ignored():
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    needed = ["main.py", "pyproject.toml", "alembic.ini", "migrations", "locales", "backend",
              "notifications", "README.md"]  # fmt: skip
    for path in needed:
        assert (ROOT_DIR / path).exists(), path
        assert not any(Path(path).match(p) or path == p.rstrip("/") for p in patterns), path


# --- database roles (docs/security.md, "Database roles") ----------------------------------


def _db_user(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).username)


def test_app_runs_as_a_non_superuser_role_and_migrations_as_the_owner():
    owner = str(SERVICES["postgres"]["environment"]["POSTGRES_USER"])  # the image's superuser
    for name in ("api", "worker", "bot"):
        env = SERVICES[name]["environment"]
        app_user = _db_user(str(env["DATABASE_URL"]))
        assert app_user != owner, f"{name} must not connect as the owner (a superuser)"
        assert app_user == "provider_desk_app"
        assert "MIGRATE_DATABASE_URL" not in env, f"{name} must not hold the owner's password"
    migrate = SERVICES["migrate"]["environment"]
    assert _db_user(str(migrate["MIGRATE_DATABASE_URL"])) == owner
    assert "@postgres:5432/provider_desk" in str(migrate["MIGRATE_DATABASE_URL"])
    assert migrate["DATABASE_URL"] == SERVICES["api"]["environment"]["DATABASE_URL"]


def test_postgres_creates_the_app_role_on_a_new_volume():
    postgres = SERVICES["postgres"]
    mounts = {}
    for volume in postgres["volumes"]:
        source, _, target = str(volume).partition(":")
        mounts[target.rsplit(":ro", 1)[0]] = source
    init = [t for t in mounts if t.startswith("/docker-entrypoint-initdb.d/")]
    assert len(init) == 1, "one init script creates the roles"
    script = ROOT_DIR / mounts[init[0]]
    assert script.suffix == ".sh" and script.stat().st_mode & 0o111, "an executable .sh"
    text = script.read_text(encoding="utf-8")
    # it runs scripts/db-roles.sql (mounted outside initdb.d, or it would run bare) for the role
    # the app services connect as, with the password they use
    [sql_target] = [t for t, s in mounts.items() if s == "./scripts/db-roles.sql"]
    assert not sql_target.startswith("/docker-entrypoint-initdb.d/")
    assert f"-f {sql_target}" in text
    app_url = str(SERVICES["api"]["environment"]["DATABASE_URL"])
    assert "${POSTGRES_APP_USER:-provider_desk_app}" in text
    assert "$POSTGRES_APP_PASSWORD" in text
    assert "${POSTGRES_APP_PASSWORD:-provider-desk-app}@" in app_url
    assert postgres["environment"]["POSTGRES_APP_PASSWORD"] == (
        "${POSTGRES_APP_PASSWORD:-provider-desk-app}"
    )
    assert '-v owner="$POSTGRES_USER"' in text
