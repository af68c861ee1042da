"""The OpenAPI pieces every insight API shares: the date parameters, the time axis and cards."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

RANGE_PARAMETERS = [
    OpenApiParameter("range", OpenApiTypes.STR, enum=["24h", "7d", "30d", "90d"], description="A preset ending now (default 30d). Ignored when date_from/date_to are given."),
    OpenApiParameter("date_from", OpenApiTypes.STR, description="ISO date or date-time; widened to the start of its bucket in the project timezone."),
    OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive) or date-time; widened to the end of its bucket."),
    OpenApiParameter("interval", OpenApiTypes.STR, enum=["hour", "day", "week"], description="Bucket size (default: hour for 24h, else day). Weeks start on Monday."),
]

AXIS_FIELDS = {
    "interval": serializers.CharField(),
    "timezone": serializers.CharField(help_text="The project's IANA timezone; buckets are its local hours, days or Monday-weeks."),
    "date_from": serializers.DateTimeField(help_text="Start of the first bucket (UTC)."),
    "date_to": serializers.DateTimeField(help_text="End of the last bucket, exclusive (UTC)."),
    "buckets": serializers.ListField(child=serializers.CharField(), help_text="Local label of each bucket: YYYY-MM-DD, or YYYY-MM-DD HH:MM for hours."),
}

CARD = inline_serializer(
    "Card",
    {
        "value": serializers.FloatField(),
        "previous": serializers.FloatField(help_text="The same figure over the period of the same length just before."),
        "change_pct": serializers.FloatField(allow_null=True, help_text="null when the previous value is 0."),
    },
)
