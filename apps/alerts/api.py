"""JSON API of alerts: list, create, read, change and delete a project's alerts, and send a
test notification.

Authenticated by session or personal API key (Bearer), like the rest of the API. Viewers
read; members and owners write. Input is checked by :func:`apps.alerts.services.alert_input_clean`,
the same check as the page's form: a bad value is a 400 naming its field.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.alerts.models import NAME_MAX, URL_MAX, Alert, AlertDelivery, AlertEvent
from apps.alerts.selectors import alert_can_see_secret, alert_get, alert_history, alerts_for_project, webhook_secret
from apps.alerts.services import alert_create, alert_delete, alert_test_notify, alert_update
from apps.projects.selectors import Access, project_get_for_user

TAGS = ["alerts"]


class SeriesSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="An event name the project has sent.")
    math = serializers.ChoiceField(choices=Alert.Math.choices, default="total", help_text="total: events; unique: distinct persons.")
    filters = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='Property filters, as the insights take them: [{"key": "status", "operator": "equals", "value": "500"}].',
    )


class AlertInputSerializer(serializers.Serializer):
    """What POST takes (and PATCH, any part of it). Documentation only: the input is checked
    by the service."""

    name = serializers.CharField(max_length=NAME_MAX)
    subject = serializers.ChoiceField(choices=["series", "ratio"], required=False, help_text="series (default), or ratio: series / denominator.")
    series = SeriesSerializer(help_text="The figure: a trends series.")
    denominator = SeriesSerializer(required=False, allow_null=True, help_text="The series under `series` for a ratio (errors / requests).")
    condition = serializers.ChoiceField(choices=Alert.Condition.choices, default="above", help_text="above or below `threshold`; change: by more than `threshold` percent against the previous bucket.")
    threshold = serializers.FloatField(help_text="A number; with `change`, a percentage.")
    interval = serializers.ChoiceField(choices=Alert.Interval.choices, default="hour", help_text="The bucket judged: the last complete hour or day, in the project's timezone.")
    every_minutes = serializers.IntegerField(min_value=1, default=5, help_text="How often it is evaluated, in minutes (1 or more).")
    recipients = serializers.ListField(child=serializers.CharField(), required=False, help_text="Project members to email, by user id or email.")
    webhook_url = serializers.URLField(max_length=URL_MAX, required=False, allow_blank=True, help_text="An http(s) URL to POST each notice to.")
    webhook_format = serializers.ChoiceField(choices=Alert.WebhookFormat.choices, default="json", help_text='json: the full notice; slack: {"text": ...}.')
    enabled = serializers.BooleanField(default=True)
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True, help_text="No notices until then (evaluation goes on).")


class RecipientSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    username = serializers.CharField(source="get_username")
    email = serializers.EmailField()


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["channel", "target", "status", "attempts", "response_status", "error", "updated_at"]


class AlertEventSerializer(serializers.ModelSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = AlertEvent
        fields = ["id", "kind", "state_from", "state_to", "value", "previous_value", "bucket", "message", "notified", "created_at", "deliveries"]


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    subject = serializers.SerializerMethodField()
    series = serializers.SerializerMethodField()
    denominator = serializers.SerializerMethodField()
    condition = serializers.CharField()
    threshold = serializers.FloatField()
    interval = serializers.CharField()
    every_minutes = serializers.IntegerField()
    recipients = RecipientSerializer(many=True, source="recipients.all")
    webhook_url = serializers.CharField()
    webhook_format = serializers.CharField()
    webhook_secret = serializers.SerializerMethodField()
    enabled = serializers.BooleanField()
    snoozed_until = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()
    last_value = serializers.FloatField(allow_null=True)
    last_previous_value = serializers.FloatField(allow_null=True)
    last_bucket = serializers.DateTimeField(allow_null=True)
    last_evaluated_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_subject(self, alert: Alert) -> str:
        return "ratio" if alert.is_ratio else "series"

    @extend_schema_field(SeriesSerializer)
    def get_series(self, alert: Alert) -> dict:
        return {"event": alert.event, "math": alert.math, "filters": alert.filters}

    @extend_schema_field(SeriesSerializer(allow_null=True))
    def get_denominator(self, alert: Alert) -> dict | None:
        if not alert.is_ratio:
            return None
        return {"event": alert.denominator_event, "math": alert.denominator_math, "filters": alert.denominator_filters}

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="The webhook's signing secret: shown to project owners and the alert's author, else null."))
    def get_webhook_secret(self, alert: Alert) -> str | None:
        return webhook_secret(alert=alert) if alert_can_see_secret(alert=alert, user=self.context["user"], role=self.context["role"]) else None


class AlertDetailSerializer(AlertSerializer):
    history = serializers.SerializerMethodField()

    @extend_schema_field(AlertEventSerializer(many=True))
    def get_history(self, alert: Alert) -> list:
        return AlertEventSerializer(alert_history(alert=alert), many=True).data


def _context(request, project) -> dict:
    return {"user": request.user, "role": project.role}


class AlertListAPI(APIView):
    @extend_schema(tags=TAGS, summary="List the project's alerts", responses=AlertSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(AlertSerializer(alerts_for_project(project=project), many=True, context=_context(request, project)).data)

    @extend_schema(tags=TAGS, summary="Create an alert", request=AlertInputSerializer, responses={201: AlertDetailSerializer})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        alert = alert_create(project=project, user=request.user, data=request.data)
        return Response(AlertDetailSerializer(alert, context=_context(request, project)).data, status=201)


class AlertDetailAPI(APIView):
    @extend_schema(tags=TAGS, summary="An alert, with its history (newest first)", responses=AlertDetailSerializer)
    def get(self, request, project_id: int, alert_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(AlertDetailSerializer(alert_get(project=project, alert_id=alert_id), context=_context(request, project)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change an alert (any of its fields); a change of its rule starts it afresh as ok",
        request=AlertInputSerializer(partial=True),
        responses=AlertDetailSerializer,
    )
    def patch(self, request, project_id: int, alert_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        alert = alert_update(alert=alert_get(project=project, alert_id=alert_id), data=request.data)
        return Response(AlertDetailSerializer(alert, context=_context(request, project)).data)

    @extend_schema(tags=TAGS, summary="Delete an alert and its history", responses={204: None})
    def delete(self, request, project_id: int, alert_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        alert_delete(alert=alert_get(project=project, alert_id=alert_id))
        return Response(status=204)


class AlertTestAPI(APIView):
    @extend_schema(tags=TAGS, summary="Send a test notification to every channel of the alert", request=None, responses={202: AlertEventSerializer})
    def post(self, request, project_id: int, alert_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        event = alert_test_notify(alert=alert_get(project=project, alert_id=alert_id))
        return Response(AlertEventSerializer(event).data, status=202)
