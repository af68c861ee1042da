"""``/projects/<id>/settings/ingest-usage/``: each ingest key's use of its limits, read from
Redis (the settings page loads it into its Limits and origins section, and refreshes it)."""

from __future__ import annotations

import redis
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.ingest.gate import usage_for_keys
from apps.projects.selectors import project_get_for_user, server_keys_for_project
from pulseboard.htmx import page


def _percent(used: float, limit: int | None) -> int | None:
    return None if not limit else min(100, round(100 * used / limit))


@login_required
@require_GET
def ingest_usage(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    keys = [("public", "Public ingest key", project.api_key[:8])]
    keys += [(f"server-{key.id}", key.label, key.prefix) for key in server_keys_for_project(project=project) if key.revoked_at is None]
    limited = bool(project.ingest_rate_per_second or project.ingest_daily_quota)
    rows, unavailable = [], False
    if limited:
        try:
            usage = usage_for_keys(
                project_id=project.id,
                key_ids=[key_id for key_id, _, _ in keys],
                rate=project.ingest_rate_per_second,
                burst=project.ingest_burst_effective,
                quota=project.ingest_daily_quota,
            )
        except (redis.RedisError, OSError):
            usage, unavailable = [], True
        for (key_id, label, prefix), used in zip(keys, usage):
            rows.append(
                {
                    "label": label,
                    "prefix": prefix,
                    "tokens": None if used.tokens is None else int(used.tokens),
                    "burst": used.burst,
                    "bucket_percent": None if used.tokens is None else _percent(used.tokens, used.burst),
                    "today": used.today,
                    "quota": used.quota,
                    "quota_percent": _percent(used.today, used.quota),
                }
            )
    context = {"project": project, "limited": limited, "rows": rows, "unavailable": unavailable}
    return page(request, "ingest/ingest_usage.html", "ingest/partials/ingest_usage.html", context)
