"""JSON API of annotations: list, create, read, change and delete a project's dated notes.

Authenticated by session or personal API key (Bearer), like the rest of the API. Viewers
read; members and owners write. Only its author changes a note (PATCH); its author or an
owner deletes it. The rules live in :mod:`apps.analytics.annotations`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics.annotations import (
    EDIT_DENIED,
    annotation_at_parse,
    annotation_can_edit,
    annotation_create,
    annotation_delete,
    annotation_get,
    annotation_text_clean,
    annotation_update,
    annotations_for_project,
)
from apps.analytics.models import ANNOTATION_TEXT_MAX, Annotation
from apps.projects.selectors import Access, project_get_for_user
from apps.query.dates import date_bound
from pulseboard.errors import Forbidden

TAGS = ["annotations"]
DATETIME = serializers.DateTimeField()


def _field_error(error: DjangoValidationError, field: str) -> serializers.ValidationError:
    messages = error.message_dict.get(field) if hasattr(error, "error_dict") else error.messages
    return serializers.ValidationError(messages or ["Invalid value."])


@extend_schema_field(OpenApiTypes.DATETIME)
class InstantField(serializers.Field):
    """An ISO 8601 date-time: read as UTC (``2026-11-22T23:30:00Z``); written with an offset,
    or without one as a local time of the project's timezone."""

    def to_internal_value(self, data):
        try:
            return annotation_at_parse(data, tz_name=self.context["tz_name"])
        except DjangoValidationError as error:
            raise _field_error(error, "at") from None

    def to_representation(self, value):
        return DATETIME.to_representation(value)


class AnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    at = InstantField(
        error_messages={"required": "Give the date and time the annotation marks, e.g. 2026-11-22T14:30:00Z."},
        help_text="The moment the note marks, ISO 8601. Answered in UTC. Sent with an offset (Z, +02:00), "
        "or without one as a local time of the project's timezone; a date alone is the start of that local day."
    )
    text = serializers.CharField(
        max_length=ANNOTATION_TEXT_MAX,
        allow_blank=True,  # refused by validate_text, in the words of the page's form
        trim_whitespace=False,
        error_messages={"required": "Write the annotation's text."},
        help_text=f"The note, 1 to {ANNOTATION_TEXT_MAX} characters.",
    )
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="Username of the author; null if unknown."))
    def get_created_by(self, note: Annotation) -> str | None:
        return note.author or None

    def validate_text(self, value: str) -> str:
        try:
            return annotation_text_clean(value)
        except DjangoValidationError as error:
            raise _field_error(error, "text") from None


def _serializer(project, **kwargs) -> AnnotationSerializer:
    return AnnotationSerializer(context={"tz_name": project.timezone}, **kwargs)


class AnnotationListAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="List the project's annotations, newest first",
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.STR, description="ISO date or date-time: only notes from then on (a date is the start of that day in the project timezone)."),
            OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive) or date-time (exclusive): only notes before then."),
        ],
        responses=AnnotationSerializer(many=True),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        tz = ZoneInfo(project.timezone)
        q = request.query_params
        notes = annotations_for_project(
            project=project,
            date_from=date_bound(q.get("date_from"), field="date_from", tz=tz, end=False),
            date_to=date_bound(q.get("date_to"), field="date_to", tz=tz, end=True),
        )
        return Response(_serializer(project, instance=notes, many=True).data)

    @extend_schema(tags=TAGS, summary="Add an annotation", request=AnnotationSerializer, responses={201: AnnotationSerializer})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        serializer = _serializer(project, data=request.data)
        serializer.is_valid(raise_exception=True)
        note = annotation_create(project=project, user=request.user, **serializer.validated_data)
        return Response(_serializer(project, instance=note).data, status=201)


class AnnotationDetailAPI(APIView):
    @extend_schema(tags=TAGS, summary="An annotation", responses=AnnotationSerializer)
    def get(self, request, project_id: int, annotation_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(_serializer(project, instance=annotation_get(project=project, annotation_id=annotation_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change an annotation's moment or text (its author only)",
        request=AnnotationSerializer(partial=True),
        responses=AnnotationSerializer,
    )
    def patch(self, request, project_id: int, annotation_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        note = annotation_get(project=project, annotation_id=annotation_id)
        if not annotation_can_edit(annotation=note, user=request.user):
            raise Forbidden(EDIT_DENIED)
        serializer = _serializer(project, instance=note, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        note = annotation_update(annotation=note, user=request.user, **serializer.validated_data)
        return Response(_serializer(project, instance=note).data)

    @extend_schema(tags=TAGS, summary="Delete an annotation (its author or an owner)", responses={204: None})
    def delete(self, request, project_id: int, annotation_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        annotation_delete(annotation=annotation_get(project=project, annotation_id=annotation_id), user=request.user, project=project)
        return Response(status=204)
