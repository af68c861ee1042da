"""The Sessions page and its CSV: the figures the API gives, the empty state, bad input."""

from __future__ import annotations

import csv
import io

import pytest

from apps.web.tests.test_sessions_api import visits_sent  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_cards_charts_and_pages(client, visits_sent):  # noqa: F811
    client.force_login(visits_sent.user)
    project = visits_sent.project
    html = client.get(f"/projects/{project.id}/sessions/", {"range": "7d"}).content.decode()
    assert '<span class="value" data-value>3</span>' in html
    assert "10m 20s" in html and "33.3%" in html  # the mean duration and the bounce rate
    assert '<span class="value" data-value>1.33</span>' in html  # pageviews per session
    assert 'data-chart="sessions-chart"' in html and 'data-chart="duration-chart"' in html
    assert html.count('title="https://a.test/"') == 2  # an entry page and an exit page
    assert "30 minutes" in html

    partial = client.get(f"/projects/{project.id}/sessions/", {"range": "7d"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'data-card="sessions"' in partial

    rows = list(csv.reader(io.StringIO(client.get(f"/projects/{project.id}/sessions.csv", {"range": "7d", "table": "entry_pages"}).content.decode())))
    assert rows == [["page_url", "sessions"], ["https://a.test/", "2"], ["https://a.test/docs", "1"]]
    buckets = list(csv.reader(io.StringIO(client.get(f"/projects/{project.id}/sessions.csv", {"range": "7d"}).content.decode())))
    assert buckets[0] == ["bucket", "sessions", "mean_duration", "median_duration", "bounce_rate", "pageviews_per_session"]
    assert len(buckets) == 8 and sum(int(row[1]) for row in buckets[1:]) == 3


def test_an_empty_project_and_bad_input(client, member):
    client.force_login(member.user)
    url = f"/projects/{member.project.id}/sessions/"
    assert "No sessions in this period" in client.get(url).content.decode()
    refused = client.get(url, {"gap": "500"})
    assert refused.status_code == 400 and "between 1 and 240" in refused.content.decode()
    assert client.get(f"/projects/{member.project.id}/sessions.csv", {"table": "pages"}).status_code == 400
