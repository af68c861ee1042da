"""JSON API of persons. Authenticated by session or personal API key (Bearer)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.persons.selectors import SEARCH_MAX, person_by_distinct_id, person_events, person_visible, persons_list
from apps.persons.services import person_deletion_request
from apps.persons.tasks import delete_person
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import NotFound, ParamError

PERSON_FIELDS = {
    "id": serializers.UUIDField(help_text="Stable while the person exists."),
    "distinct_ids": serializers.ListField(child=serializers.CharField(), help_text="Every id of the person."),
    "properties": serializers.DictField(help_text="Current person properties ($set: latest wins; $set_once: earliest)."),
    "first_seen": serializers.DateTimeField(),
    "last_seen": serializers.DateTimeField(),
}


class PersonsAPI(APIView):
    @extend_schema(
        summary="List persons, most recently seen first",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description=f"Persons with an id or a property value containing this (case-insensitive; at most {SEARCH_MAX} characters)."),
            OpenApiParameter("distinct_id", OpenApiTypes.STR, description="The one person that holds this id (an empty list if none)."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From the `next` link of the previous page."),
        ],
        responses=inline_serializer(
            "PersonsPage",
            {"results": inline_serializer("Person", PERSON_FIELDS, many=True), "next": serializers.URLField(allow_null=True)},
        ),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        q = request.query_params
        search, distinct_id = q.get("search", ""), q.get("distinct_id")
        if len(search) > SEARCH_MAX:
            raise ParamError("search", f"is {len(search)} characters; the limit is {SEARCH_MAX}.")
        if distinct_id is not None:
            person = person_by_distinct_id(project_id=project.id, distinct_id=distinct_id) if distinct_id else None
            return Response({"results": [person.as_json()] if person else [], "next": None})
        try:
            page = persons_list(project_id=project.id, search=search, cursor=q.get("cursor") or None)
        except ValueError:
            raise ParamError("cursor", "is not a cursor of this list; start again without it.") from None
        next_url = None
        if page.next_cursor:
            params = q.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": [person.as_json() for person in page.results], "next": next_url})


def _person_or_404(project, person_id: str):
    person = person_visible(project_id=project.id, person_id=person_id)
    if person is None:
        raise NotFound("No such person.")
    return person


class PersonAPI(APIView):
    @extend_schema(
        summary="One person, with its most recent events",
        responses=inline_serializer(
            "PersonWithEvents", {**PERSON_FIELDS, "events": serializers.ListField(child=serializers.DictField(), help_text="Newest first, of every id.")}
        ),
    )
    def get(self, request, project_id: int, person_id: str):
        project = project_get_for_user(user=request.user, project_id=project_id)
        person = _person_or_404(project, person_id)
        return Response({**person.as_json(), "events": person_events(project_id=project.id, person_key=person.key)})

    @extend_schema(
        summary="Delete a person and every event of its ids",
        description="Answers 202 at once; the deletion runs on a worker, and its record (who, when, rows removed per table) is kept.",
        responses={202: inline_serializer("PersonDeletionQueued", {"id": serializers.UUIDField(), "status": serializers.CharField()})},
    )
    def delete(self, request, project_id: int, person_id: str):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.OWN)
        person = _person_or_404(project, person_id)
        deletion = person_deletion_request(project_id=project.id, person_key=person.key, distinct_ids=person.distinct_ids, user=request.user)
        delete_person.delay(str(deletion.id))
        return Response({"id": str(deletion.id), "status": deletion.status}, status=202)
