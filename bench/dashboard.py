"""A dashboard of 8 tiles on 10M events, loaded in Chromium: the first load and cached reloads.

It starts the embedded deployment (``manage.py serve``) on a copy of a var directory that
``bench/query.py --keep DIR`` seeded (10M events of the project "Bench", login ``bench``),
saves 8 insights through the API (trends, a breakdown, unique users, active users,
retention, stickiness, lifecycle and a funnel), puts them on a dashboard, and then, in
Debian's Chromium, times from the start of the navigation to the moment every tile has its
figures and every chart is drawn:

* the first load, with an empty tile cache (every tile computed on 10M events), on a
  server just started;
* reloads answered from the cache (p50 of ``--runs``), the browser's whole page;
* loads after new data (p50 of ``--runs``, at most 5): one event is sent through the ingest
  API, and once the flush has stored it (the project's data watermark moves) the page is
  loaded again, every tile computed afresh on a server that has run before: what a person
  sees on a live install. Each of these also reports the CPU time that Chromium and the
  server spent during it, since on this one machine the browser takes its share of the
  cores the queries use;
* and, as the server sees it, one cached tile request (p50).

Targets (issue "Saved insights, dashboards and annotations"): the whole dashboard in under
1 s, a cached reload in under 150 ms.

    .venv/bin/python bench/dashboard.py --from DIR [--runs 5] [--materialize '$browser']

``--materialize KEY`` gives the property its own column first (``manage.py
properties_materialize``), as an operator would for a property that dashboards break down by.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_FULL_MS = 1000
TARGET_CACHED_MS = 150
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

INSIGHTS = [
    ("trends", "Pageviews", {"events": ["$pageview"], "range": ["30d"]}),
    ("trends", "Pageviews by browser", {"events": ["$pageview"], "breakdown": ["$browser"], "range": ["30d"]}),
    ("trends", "Unique sign-ups", {"events": ["signed_up"], "math": ["unique"], "range": ["30d"]}),
    ("active_users", "Active users", {"range": ["30d"]}),
    ("retention", "Weekly retention", {"start_event": ["signed_up"], "return_event": ["$pageview"], "period": ["week"], "range": ["30d"]}),
    ("stickiness", "Stickiness", {"events": ["$pageview"], "range": ["30d"]}),
    ("lifecycle", "Lifecycle", {"event": ["$pageview"], "range": ["30d"]}),
]

# Every insight tile shows when it was computed once its figures are in, and every canvas
# of a tile has its Chart.js chart: then the dashboard is what a person came to see.
ALL_DRAWN = """() => {
  const bodies = [...document.querySelectorAll('[data-tile-body]')];
  if (!bodies.length || !bodies.every(b => b.querySelector('[data-updated]'))) return false;
  const canvases = [...document.querySelectorAll('[data-tile-body] canvas')];
  if (!canvases.every(c => window.Chart && window.Chart.getChart(c))) return false;
  return performance.now();
}"""


def api(session, method: str, url: str, body: dict | None = None) -> dict:
    answer = session.request(method, url, json=body, timeout=120)
    if answer.status_code >= 400:
        raise SystemExit(f"{method} {url}: {answer.status_code} {answer.text[:400]}")
    return answer.json()


def build(stack, key: str, project_id: int) -> int:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    base = f"{stack.base_url}/api/v1/projects/{project_id}"
    steps = [{"event": name, "filters": []} for name in ("signed_up", "$pageview", "created_project", "purchase")]
    funnel = api(session, "POST", f"{base}/funnels", {"name": "Sign-up to purchase", "steps": steps})
    insights = INSIGHTS + [("funnel", "Sign-up to purchase", {"funnel_id": [str(funnel["id"])], "range": ["30d"]})]
    dashboard = api(session, "POST", f"{base}/dashboards", {"name": "Bench: 8 tiles", "description": ""})
    for i, (kind, name, query) in enumerate(insights):
        saved = api(session, "POST", f"{base}/insights", {"kind": kind, "name": name, "query": query})
        api(session, "POST", f"{base}/dashboards/{dashboard['id']}/tiles", {"insight": saved["id"], "x": (i % 2) * 6, "y": (i // 2) * 4, "w": 6, "h": 4, "text": ""})
    return dashboard["id"]


def _cpu_ms(pids) -> float:
    """CPU time (user and system) spent so far by the processes ``pids``, in ms."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def _pids(test) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if test(int(entry)):
                    found.append(int(entry))
    return found


def chromium_cpu_ms() -> float:
    return _cpu_ms(_pids(lambda pid: "chromium" in os.readlink(f"/proc/{pid}/exe")))


def group_cpu_ms(pgid: int) -> float:
    """The CPU time of a process group (a stack's process and its children)."""
    return _cpu_ms(_pids(lambda pid: os.getpgid(pid) == pgid))


def new_data(stack, api_key: str, project_id: int, n: int) -> None:
    """Send one event and wait until the flush has stored it: the project's data watermark
    (apps/dashboards/cache.py) moves, so every cached tile is out of date. Then wait a
    second more, for the flush's own work to end before the page is timed."""
    import requests
    from stack import wait_for

    key = f"{stack.prefix}:watermark:{project_id}"
    before = stack.redis.get(key)
    answer = requests.post(
        f"{stack.base_url}/api/v1/events", headers={"X-API-Key": api_key},
        json={"events": [{"event": "$pageview", "distinct_id": f"bench-new-data-{n}"}]}, timeout=30,
    )
    if answer.status_code != 202:
        raise SystemExit(f"POST /api/v1/events: {answer.status_code} {answer.text[:300]}")
    wait_for(lambda: stack.redis.get(key) != before, 60, "the event sent to be stored (is the flush running?)")
    time.sleep(1.0)


@dataclass
class Loads:
    first: float
    cached: list[float]
    fresh: list[float]  # after new data, on a warm server
    fresh_cpu: list[tuple[float, float]]  # (Chromium, server) CPU ms during each


def browser_times(stack, boot: dict, url: str, runs: int) -> Loads:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{stack.base_url}/login/")
        page.fill("input[name=username]", boot["username"])
        page.fill("input[name=password]", boot["password"])
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

        def load() -> float:
            page.goto(url, wait_until="commit")
            return page.wait_for_function(ALL_DRAWN, polling="raf", timeout=120_000).json_value()

        first = load()
        cached = [load() for _ in range(runs)]
        server = stack.process("serve").popen.pid
        fresh, fresh_cpu = [], []
        for n in range(min(runs, 5)):
            new_data(stack, boot["api_key"], boot["project_id"], n)
            browser_cpu, server_cpu = chromium_cpu_ms(), group_cpu_ms(server)
            fresh.append(load())
            fresh_cpu.append((chromium_cpu_ms() - browser_cpu, group_cpu_ms(server) - server_cpu))
            load()  # the same page again, now cached: the next round starts from where a reader would be
        timing = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " const tiles = performance.getEntriesByType('resource').filter(r => r.name.includes('/tiles/'));"
            " return {html: n.responseEnd, dom: n.domContentLoadedEventEnd, tile_requests: tiles.length}; }"
        )
        # Tiles found in the cache come inside the page's HTML: a cached reload makes no tile request.
        print("    last cached reload: HTML in at {html:.0f} ms, DOM ready {dom:.0f} ms, {tile_requests} tile requests".format(**timing))
        tiles = page.locator("[data-tile-body] [data-from-cache]").count()
        browser.close()
    if tiles != 8:
        print(f"    WARNING: {tiles} of 8 tiles said they came from the cache on the last reload")
    return Loads(first, cached, fresh, fresh_cpu)


def server_tile_ms(stack, username: str, password: str, dashboard_url: str, runs: int) -> float:
    import re

    import requests

    session = requests.Session()
    session.get(f"{stack.base_url}/login/", timeout=30)
    session.post(
        f"{stack.base_url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{stack.base_url}/login/"},
        timeout=30,
    )
    started = time.perf_counter()
    html = session.get(dashboard_url, timeout=60).text
    print(f"    the page's HTML, its cached tiles inside: {(time.perf_counter() - started) * 1000:.1f} ms")
    # Each tile's own content (what a tile not in the cache asks for), from its frame's id.
    tiles = [f"{dashboard_url.removeprefix(stack.base_url)}tiles/{tile_id}/" for tile_id in re.findall(r'data-tile="(\d+)" data-tile-kind="(?!text)', html)]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = session.get(f"{stack.base_url}{tiles[0]}", headers={"HX-Request": "true"}, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200 and "data-from-cache" in answer.text, answer.text[:300]
    # Where a first load's time goes: each tile computed afresh, one after another.
    for url in tiles:
        started = time.perf_counter()
        answer = session.get(f"{stack.base_url}{url}?refresh=1", headers={"HX-Request": "true"}, timeout=120)
        print(f"    tile computed afresh: {(time.perf_counter() - started) * 1000:6.0f} ms  {url}")
    return statistics.median(times)


def main() -> int:
    from query import from_args

    args = from_args(
        __doc__,
        runs=5,
        options=lambda parser: parser.add_argument(
            "--materialize", action="append", default=[], metavar="KEY",
            help="run manage.py properties_materialize KEY on the copy first (repeatable), e.g. '$browser'",
        ),
    )
    from deletion import copy_var
    from stack import Stack

    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    stack = Stack("embedded", label="bench")
    try:
        copy_var(args.source, stack.var_dir)
        if args.materialize:
            started = time.perf_counter()
            stack.manage("properties_materialize", *args.materialize, timeout=1800)
            print(f"materialised {', '.join(args.materialize)} in {time.perf_counter() - started:.1f} s (the column written into every stored event)")
        stack.start(timeout_s=180)
        boot = stack.bootstrap()
        project_id = boot["project_id"]
        dashboard_id = build(stack, boot["personal_api_key"], project_id)
        url = f"{stack.base_url}/projects/{project_id}/dashboards/{dashboard_id}/"
        print(f"== dashboard of 8 tiles at {url} (10M events)", flush=True)
        loads = browser_times(stack, boot, url, args.runs)
        tile_ms = server_tile_ms(stack, boot["username"], boot["password"], url, args.runs)
    finally:
        stack.stop()
        stack.cleanup()
    def verdict(ms: float, target: int) -> str:
        return f"(target {target} ms: {'OK' if ms < target else 'MISSED'})"

    def listed(times: list[float]) -> str:
        return ", ".join(f"{t:.0f}" for t in times)

    cached, fresh = statistics.median(loads.cached), statistics.median(loads.fresh)
    print(f"    first load, empty cache, server just started: {loads.first:7.0f} ms  {verdict(loads.first, TARGET_FULL_MS)}")
    print(f"    load after new data, warm server: {fresh:7.0f} ms  p50 of {len(loads.fresh)} ({listed(loads.fresh)})  {verdict(fresh, TARGET_FULL_MS)}")
    print(f"        CPU during each, Chromium: {listed([c for c, _ in loads.fresh_cpu])} ms; the server: {listed([s for _, s in loads.fresh_cpu])} ms (2 cores)")
    print(f"    cached reload, whole page: {cached:7.0f} ms  p50 of {len(loads.cached)} ({listed(loads.cached)})  {verdict(cached, TARGET_CACHED_MS)}")
    print(f"    one cached tile, server:   {tile_ms:7.1f} ms  p50 of {args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
