"""Paths through the API: the figures against the pure-Python reference on random visits
(with and without session ids, gaps of exactly the setting, merged persons), worked cases
of each anchor, the top edges per step, and bad input."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.persons.tests.histories import history_annotated, history_ingest
from apps.query.dates import date_range_resolve
from apps.web.tests import paths_reference as ref
from apps.web.tests.test_sessionize import START, STEPS, visit_event
from conftest import MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

# Pages as sent: with a query string, a fragment, a trailing slash, or the bare origin.
URLS = ["https://shop.test", "https://shop.test/?ref=ad", "https://shop.test/pricing", "https://shop.test/pricing/#plans", "https://shop.test/cart?step=2"]
NAMES = ["$pageview", "$pageview", "$pageview", "clicked", "bought", "$pageleave"]
NODES = {"pages": ["/", "/pricing", "/cart"], "events": ["$pageview", "clicked", "bought"]}


@st.composite
def path_visits(draw) -> list[dict]:
    """A timeline of the sessions test's visits, with pages and event names of paths."""
    moment, events = START, []
    for step, event in draw(st.lists(visit_event(), min_size=3, max_size=24)):
        moment += timedelta(minutes=step)
        event.update(event=draw(st.sampled_from(NAMES)), page_url=draw(st.sampled_from(URLS)))
        events.append({**event, "timestamp": moment.isoformat()})
    return events


def insight(client, project, **params):
    response = client.get(f"/api/v1/projects/{project.id}/insights/paths", params)
    assert response.status_code == 200, response.content
    return response.json()


def expected(events, *, date_from, date_to, gap=30, path_type="pages", start="", end="", depth=3) -> dict:
    found = ref.paths(history_annotated(events), date_from=date_from, date_to=date_to, gap=timedelta(minutes=gap), path_type=path_type, start=start, end=end, depth=depth)
    edges = ref.top_edges(found["edges"], 20)
    ends = {(e["step"], e["source"]) for e in edges} | {(e["step"] + 1, e["target"]) for e in edges}
    nodes = sorted(((step, name, found["nodes"][(step, name)]) for step, name in ends), key=lambda n: (n[0], -n[2], n[1]))
    anchor = depth + 1 if end and not start else 1
    return {
        "totals": {"sessions": found["steps"][anchor]},
        "steps": [{"step": step, "sessions": n} for step, n in found["steps"].items()],
        "nodes": [{"step": step, "name": name, "sessions": n} for step, name, n in nodes],
        "edges": edges,
    }


@settings(max_examples=30)
@given(
    events=path_visits(),
    data=st.data(),
    path_type=st.sampled_from(["pages", "events"]),
    anchors=st.sampled_from(["", "start", "end", "both"]),
    depth=st.integers(1, 5),
    gap=st.sampled_from([30, 45]),
)
def test_paths_equal_the_reference(client, ingest_client, events, data, path_type, anchors, depth, gap):
    membership = MembershipFactory()
    history_ingest(ingest_client, membership.project, events, data)
    client.force_login(membership.user)
    start = data.draw(st.sampled_from(NODES[path_type])) if anchors in ("start", "both") else ""
    end = data.draw(st.sampled_from(NODES[path_type])) if anchors in ("end", "both") else ""
    # From the first event, or an hour later (sessions begun before are not the range's),
    # to a few hours on (sessions go on past the end); the API widens a range to its buckets.
    first = START + timedelta(hours=data.draw(st.sampled_from([0, 1])))
    params = {"date_from": first.isoformat(), "date_to": (START + timedelta(hours=5)).isoformat(), "interval": "hour", "path_type": path_type, "depth": depth, "gap": gap}
    body = insight(client, membership.project, **params, **({"start": start} if start else {}), **({"end": end} if end else {}))
    r = date_range_resolve(params=params, tz_name=membership.project.timezone)
    date_from, date_to = r.date_from, r.date_to
    want = expected(events, date_from=date_from, date_to=date_to, gap=gap, path_type=path_type, start=start, end=end, depth=depth)
    assert {key: body[key] for key in want} == want
    assert (body["start"], body["end"], body["depth"], body["gap_minutes"]) == (start or None, end or None, depth, gap)


# --- Worked cases ------------------------------------------------------------------------------

HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


def at(minutes: int) -> str:
    return (HOUR + timedelta(minutes=minutes)).isoformat()


def send_visits(ingest_client, project, visits: dict[str, list[str]]) -> None:
    """One session per key (its ``session_id``), a pageview a minute for each page."""
    events = [
        {"event_id": str(uuid.uuid4()), "event": "$pageview", "anonymous_id": f"v-{key}", "session_id": key, "page_url": f"https://a.test{page}", "timestamp": at(i)}
        for key, pages in visits.items()
        for i, page in enumerate(pages)
    ]
    response = post_events(ingest_client, project.api_key, {"events": events})
    assert response.status_code == 202, response.json()
    flush()


@pytest.fixture
def shop(ingest_client, member):
    """Three visits: / → /pricing → /signup (twice, once reloading /pricing) and / → /docs."""
    send_visits(
        ingest_client,
        member.project,
        {"s1": ["/", "/pricing", "/signup"], "s2": ["/", "/pricing/", "/pricing?x=1", "/signup"], "s3": ["/", "/docs"]},
    )
    return member


def test_the_answer_has_steps_nodes_and_edges(client, shop):
    client.force_login(shop.user)
    body = insight(client, shop.project, range="7d", depth=2)
    assert body["totals"] == {"sessions": 3}
    assert body["steps"] == [{"step": 1, "sessions": 3}, {"step": 2, "sessions": 3}, {"step": 3, "sessions": 2}]
    assert body["edges"] == [
        {"step": 1, "source": "/", "target": "/pricing", "sessions": 2},
        {"step": 1, "source": "/", "target": "/docs", "sessions": 1},
        {"step": 2, "source": "/pricing", "target": "/signup", "sessions": 2},
    ]
    assert body["nodes"][:3] == [{"step": 1, "name": "/", "sessions": 3}, {"step": 2, "name": "/pricing", "sessions": 2}, {"step": 2, "name": "/docs", "sessions": 1}]
    # Before /signup: read back from it, so /signup is the last column.
    body = insight(client, shop.project, range="7d", depth=3, end="/signup/")
    assert body["end"] == "/signup" and body["totals"] == {"sessions": 2}
    assert [(e["step"], e["source"], e["target"]) for e in body["edges"]] == [(2, "/", "/pricing"), (3, "/pricing", "/signup")]
    # From /pricing to /signup in at most one step.
    body = insight(client, shop.project, range="7d", depth=1, start="/pricing", end="/signup")
    assert body["edges"] == [{"step": 1, "source": "/pricing", "target": "/signup", "sessions": 2}]


def test_each_step_shows_its_top_20_edges(client, ingest_client, member):
    send_visits(ingest_client, member.project, {f"s{i:02}": ["/", f"/p{i % 22:02}"] for i in range(23)})
    client.force_login(member.user)
    body = insight(client, member.project, range="7d", depth=1)
    assert len(body["edges"]) == 20
    assert body["edges"][0] == {"step": 1, "source": "/", "target": "/p00", "sessions": 2}
    assert [e["target"] for e in body["edges"][1:]] == [f"/p{i:02}" for i in range(1, 20)]
    assert body["steps"] == [{"step": 1, "sessions": 23}, {"step": 2, "sessions": 23}]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"depth": "0"}, "depth"),
        ({"depth": "6"}, "depth"),
        ({"depth": "two"}, "depth"),
        ({"path_type": "screens"}, "path_type"),
        ({"start": "pricing"}, "start"),
        ({"start": "http://["}, "start"),
        ({"end": "/a\x00"}, "end"),
        ({"steps": "3"}, "steps"),
        ({"gap": "241"}, "gap"),
        ({"filters": "[{"}, "filters"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, member, params, field):
    client.force_login(member.user)
    response = client.get(f"/api/v1/projects/{member.project.id}/insights/paths", params)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


# --- The page, its CSV and a dashboard tile ------------------------------------------------------


def test_the_page_draws_the_flows_lists_the_moves_and_exports_them(client, shop):
    from django.template.loader import render_to_string

    from apps.dashboards import registry
    from apps.dashboards.models import SavedInsight

    client.force_login(shop.user)
    project = shop.project
    response = client.get(f"/projects/{project.id}/paths/?range=7d&depth=2")
    html = response.content.decode()
    assert response.status_code == 200
    assert "chartjs-chart-sankey.min.js" in html and 'data-sankey="paths-sankey"' in html
    assert '"flow": 2' in html and '"labels"' in html  # the flows the Sankey draws
    rows = html.split('id="paths-edges"')[1].replace("<wbr>", "")  # pages may wrap before each "/"
    assert ">/pricing</td>" in rows and ">/signup</td>" in rows and ">66.7%</td>" in rows  # 2 of the 3 sessions at / went to /pricing
    assert 'hx-indicator="#page-body, #global-indicator"' in html and 'name="depth"' in html
    # An HTMX swap (the form, the date controls) gets the body only.
    partial = client.get(f"/projects/{project.id}/paths/?range=7d&start=/docs", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "data-empty" in partial and "No session goes on from here" in partial
    empty = client.get(f"/projects/{project.id}/paths/?range=7d&start=/nowhere").content.decode()
    assert "No session in this period reaches “/nowhere”" in empty
    bad = client.get(f"/projects/{project.id}/paths/?depth=9")
    assert bad.status_code == 400 and "depth" in bad.content.decode()

    csv_text = client.get(f"/projects/{project.id}/paths.csv?range=7d&depth=2").content.decode()
    assert csv_text.splitlines() == [
        "step,source,target,sessions,share_of_source",
        "1,/,/pricing,2,66.7",
        "1,/,/docs,1,33.3",
        "2,/pricing,/signup,2,100.0",
    ]
    assert client.get(f"/projects/{project.id}/paths.csv?depth=0").status_code == 400

    # Saved, it is a dashboard tile of step columns.
    insight = SavedInsight.objects.create(project=project, kind="paths", name="Home", query={"range": ["7d"], "depth": ["2"]}, created_by=shop.user)
    content = registry.tile_content(project, insight, chart_id="tile-1")
    tile = render_to_string(content.template, content.context)
    assert 'data-tile-kind="paths"' in tile and 'data-step="3"' in tile and "3 sessions" in tile
    assert registry.insight_url(insight).startswith(f"/projects/{project.id}/paths/?")
