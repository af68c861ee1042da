"""Saved insights: the reads (``insights_*``, ``insight_get``) and writes (``insight_*``).

A saved insight is a kind of the registry (:mod:`apps.dashboards.registry`) and the query
of its page, whole. Saving checks both: an unknown kind is a :class:`ParamError` on
``kind``, and a query its type cannot parse is a :class:`ParamError` on ``query`` whose
message is the parse error's ("range: must be one of 24h, 7d, 30d, 90d"). Callers (the
pages and the API) check the role first, through ``project_get_for_user``.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.dashboards import registry
from apps.dashboards.models import SavedInsight
from apps.projects.models import Project
from pulseboard.errors import NotFound, ParamError, text_clean

NAME_MAX = SavedInsight._meta.get_field("name").max_length
DESCRIPTION_MAX = 2000
COPY_SUFFIX = " (copy)"


# --- Reads ------------------------------------------------------------------------------------


def insights_for_project(
    *, project: Project, search: str = "", kind: str = "", created_by_id: int | None = None
) -> QuerySet[SavedInsight]:
    """The project's saved insights, most recently changed first; ``search`` matches the name
    or the description (case-insensitive), ``kind`` and ``created_by_id`` filter exactly."""
    insights = SavedInsight.objects.filter(project=project).select_related("created_by")
    search = search.replace("\x00", "").strip()  # no stored text holds NUL (Postgres refuses it)
    if search:
        insights = insights.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if kind:
        insights = insights.filter(kind=kind)
    if created_by_id is not None:
        insights = insights.filter(created_by_id=created_by_id)
    return insights.order_by("-updated_at", "-id")


def insight_creators(*, project: Project) -> list[tuple[int, str]]:
    """``(user id, username)`` of everyone who saved an insight in the project, by name."""
    rows = (
        SavedInsight.objects.filter(project=project, created_by__isnull=False)
        .values_list("created_by_id", "created_by__username")
        .distinct()
        .order_by("created_by__username")
    )
    return list(rows)


def insight_get(*, project: Project, insight_id: int) -> SavedInsight:
    """A saved insight of ``project``; :class:`NotFound` for any other id (never says it exists)."""
    if not 0 < int(insight_id) < 2**63:
        raise NotFound("No such insight.")
    insight = SavedInsight.objects.filter(project=project, id=insight_id).select_related("created_by").first()
    if insight is None:
        raise NotFound("No such insight.")
    return insight


# --- Writes -----------------------------------------------------------------------------------


def query_normalize(query) -> dict[str, list[str]]:
    """The query as it is saved. The date controls' ``preset`` becomes ``range`` (it wins on
    the pages), and a relative range drops the custom dates that rode along with it, so a
    saved "last 30 days" stays relative."""
    query = registry.query_clean(query)
    preset = query.pop("preset", None)
    if preset and preset[0]:
        query["range"] = [preset[0]]
    if query.get("range", [""])[0]:
        query.pop("date_from", None)
        query.pop("date_to", None)
    return query


def _kind_check(kind) -> registry.InsightType:
    try:
        return registry.insight_type(kind)
    except NotFound:
        raise ParamError("kind", f"must be one of {', '.join(registry.REGISTRY)}") from None


def _query_check(project: Project, insight_type: registry.InsightType, query) -> dict[str, list[str]]:
    query = query_normalize(query)
    try:
        insight_type.validate(project, registry.query_dict(query))
    except ParamError as error:
        raise ParamError("query", f"{error.field}: {error.message}") from None
    return query


def _name_check(name) -> str:
    return text_clean(name, field="name", limit=NAME_MAX, required="give the insight a name")


def _description_check(description) -> str:
    return text_clean(description, field="description", limit=DESCRIPTION_MAX)


def insight_create(
    *, project: Project, kind: str, name: str, query, description: str = "", created_by: AbstractBaseUser | None = None
) -> SavedInsight:
    """Save an insight of ``kind`` with its page's ``query`` (checked by its type's parse)."""
    insight_type = _kind_check(kind)
    name = _name_check(name)
    description = _description_check(description)
    query = _query_check(project, insight_type, query)
    user = created_by if created_by is not None and created_by.is_authenticated else None
    return SavedInsight.objects.create(
        project=project, kind=insight_type.kind, name=name, description=description, query=query, created_by=user
    )


_UNSET = object()


def insight_update(
    *, insight: SavedInsight, name=_UNSET, description=_UNSET, query=_UNSET, kind=_UNSET
) -> SavedInsight:
    """Change what is given: the name, the description, or the query (with its kind)."""
    fields = []
    insight_type = _kind_check(insight.kind if kind is _UNSET else kind)
    if kind is not _UNSET and kind != insight.kind:
        if query is _UNSET:
            raise ParamError("query", "a new kind needs a query of that kind")
        insight.kind = insight_type.kind
        fields.append("kind")
    if name is not _UNSET:
        insight.name = _name_check(name)
        fields.append("name")
    if description is not _UNSET:
        insight.description = _description_check(description)
        fields.append("description")
    if query is not _UNSET:
        insight.query = _query_check(insight.project, insight_type, query)
        fields.append("query")
    if fields:
        insight.save(update_fields=[*fields, "updated_at"])
    return insight


def insight_duplicate(*, insight: SavedInsight, created_by: AbstractBaseUser | None = None) -> SavedInsight:
    """A copy of ``insight`` named "<name> (copy)", saved by ``created_by``. Its query is
    copied as saved (a query that no longer validates is copied too, to be fixed in the copy)."""
    name = insight.name[: NAME_MAX - len(COPY_SUFFIX)] + COPY_SUFFIX
    user = created_by if created_by is not None and created_by.is_authenticated else None
    return SavedInsight.objects.create(
        project=insight.project,
        kind=insight.kind,
        name=name,
        description=insight.description,
        query=insight.query,
        created_by=user,
    )


def insight_delete(*, insight: SavedInsight) -> None:
    """Delete the insight and, with it, its dashboard tiles."""
    insight.delete()


def insight_viewed(*, insight: SavedInsight) -> None:
    """Mark the insight opened now, without changing when it was last modified."""
    now = timezone.now()
    SavedInsight.objects.filter(pk=insight.pk).update(last_viewed_at=now)
    insight.last_viewed_at = now
