"""JSON twin of the digest page: a member reads and sets their own digest of a project.

Authenticated by session or personal API key (Bearer), like the rest of the API. Every
member, viewers included, manages their own subscription.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.digests.models import Frequency
from apps.digests.selectors import subscription_frequency
from apps.digests.services import subscription_set
from apps.projects.selectors import project_get_for_user

TAGS = ["digests"]
CHOICES_TEXT = "Pick off, daily or weekly."


class SubscriptionSerializer(serializers.Serializer):
    frequency = serializers.ChoiceField(
        choices=Frequency.choices,
        error_messages={"required": CHOICES_TEXT, "invalid_choice": CHOICES_TEXT, "null": CHOICES_TEXT},
        help_text="off (the default), daily (the day before, sent from DIGEST_SEND_HOUR local time) "
        "or weekly (Monday to Sunday, sent on Monday).",
    )
    email = serializers.CharField(read_only=True, help_text="Where the digest goes: the account's address (empty when it has none: nothing is sent).")
    timezone = serializers.CharField(read_only=True, help_text="The project's timezone: days and weeks are local to it.")


class DigestSubscriptionAPI(APIView):
    def _answer(self, project, user) -> Response:
        frequency = subscription_frequency(project=project, user=user)
        return Response({"frequency": frequency, "email": user.email, "timezone": project.timezone})

    @extend_schema(tags=TAGS, responses=SubscriptionSerializer, summary="Your digest of the project")
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return self._answer(project, request.user)

    @extend_schema(tags=TAGS, request=SubscriptionSerializer, responses=SubscriptionSerializer, summary="Set your digest of the project")
    def put(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = SubscriptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription_set(project=project, user=request.user, frequency=serializer.validated_data["frequency"])
        return self._answer(project, request.user)
