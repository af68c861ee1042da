"""The apps' layering, checked on every module's imports.

Each app imports only from the layers below it, never from one above it or beside it:

    pulseboard  <-  projects  <-  ingest  <-  query  <-  persons  <-  analytics, funnels, web  <-  dashboards, alerts, digests  <-  demo

A lower app that must react to something above it fires a hook the upper app subscribes
to (``apps/ingest/hooks.py``, ``pulseboard/health.py``). Exempt, because wiring names
every app by design: the URL and routing modules (``pulseboard/urls.py``,
``pulseboard/routing.py``, ``pulseboard/asgi.py`` and each app's ``urls.py``) and the
settings' dotted strings (strings are not imports). Tests and ``conftest.py`` are exempt
too: they may build data across apps, so they are not scanned here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The layers, bottom first; apps in one layer may not import one another.
LAYERS: list[set[str]] = [
    {"pulseboard"},
    {"projects"},
    {"ingest"},
    {"query"},
    {"persons"},
    {"analytics", "funnels", "web"},
    {"dashboards", "alerts", "digests"},
    {"demo"},
]
LEVEL = {app: level for level, apps in enumerate(LAYERS) for app in apps}
WIRING = {"pulseboard/urls.py", "pulseboard/routing.py", "pulseboard/asgi.py"}


def app_of_module(dotted: str) -> str | None:
    """The app a dotted module name belongs to (``apps.funnels.models`` -> ``funnels``)."""
    parts = dotted.split(".")
    if parts[0] == "pulseboard":
        return "pulseboard"
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    return None


def app_of_path(relative: str) -> str:
    parts = relative.split("/")
    return "pulseboard" if parts[0] == "pulseboard" else parts[1]


def exempt(relative: str) -> bool:
    parts = relative.split("/")
    return (
        relative in WIRING
        or relative == "conftest.py"
        or "tests" in parts
        or (parts[0] == "apps" and parts[-1] == "urls.py" and len(parts) == 3)
    )


def imported_modules(source: str) -> list[tuple[int, str]]:
    """``(line, dotted module)`` of every absolute import, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # "from apps import funnels" imports the app itself.
            names = [f"{node.module}.{alias.name}" for alias in node.names] if node.module == "apps" else [node.module]
            found.extend((node.lineno, name) for name in names)
    return found


def violations(relative: str, source: str) -> list[str]:
    """What ``source`` (the module at ``relative``) imports from its own layer or above."""
    own = app_of_path(relative)
    problems = []
    for line, module in imported_modules(source):
        other = app_of_module(module)
        if other is None or other == own:
            continue
        if other not in LEVEL:
            problems.append(f"{relative}:{line} imports {module}: app {other!r} has no layer in LAYERS")
        elif LEVEL[other] >= LEVEL[own]:
            where = "beside" if LEVEL[other] == LEVEL[own] else "above"
            problems.append(f"{relative}:{line} imports {module}: {other} is {where} {own}")
    return problems


def modules() -> list[str]:
    paths = [*ROOT.glob("pulseboard/**/*.py"), *ROOT.glob("apps/**/*.py")]
    return sorted(str(path.relative_to(ROOT)) for path in paths if "__pycache__" not in path.parts)


def test_every_app_has_a_layer():
    apps = {path.name for path in (ROOT / "apps").iterdir() if (path / "apps.py").exists()}
    assert apps | {"pulseboard"} == set(LEVEL), "place each app in LAYERS (and in README's Architecture)"


def test_no_app_imports_from_its_own_layer_or_above():
    scanned = [relative for relative in modules() if not exempt(relative)]
    assert len(scanned) > 80  # the scan really covers the code
    problems = [problem for relative in scanned for problem in violations(relative, (ROOT / relative).read_text())]
    assert problems == [], "imports that break the layering:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("apps/projects/views.py", "from apps.ingest.sdk import x", ["ingest is above projects"]),
        ("apps/funnels/views.py", "from apps.analytics.views import _range", ["analytics is beside funnels"]),
        ("apps/analytics/apps.py", "def ready():\n    import apps.demo.services", ["demo is above analytics"]),
        ("pulseboard/health.py", "from apps import ingest", ["ingest is above pulseboard"]),
        ("apps/ingest/models.py", "from apps.newthing import x", ["app 'newthing' has no layer"]),
        ("apps/funnels/views.py", "from apps.query.dates import x\nfrom pulseboard.htmx import page\nfrom .forms import y", []),
    ],
)
def test_the_check_itself(relative, source, expected):
    found = violations(relative, source)
    assert len(found) == len(expected) and all(text in problem for text, problem in zip(expected, found)), found


def test_wiring_and_tests_are_the_only_exemptions():
    assert exempt("pulseboard/urls.py") and exempt("apps/funnels/urls.py") and exempt("apps/demo/tests/test_services.py")
    assert not exempt("pulseboard/health.py") and not exempt("apps/funnels/views.py")
    assert not exempt("pulseboard/management/commands/serve.py")
