"""The one rule for property filters, and proof that every place that takes filters uses it."""

import orjson
import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from apps.analytics.views import _form_filters
from apps.funnels.forms import StepForm
from apps.funnels.models import filters_clean
from apps.funnels.serializers import StepSerializer
from apps.query.filters import (
    MAX_FILTERS,
    FilterError,
    PropertyFilter,
    filter_value_text,
    property_filter_clean,
    property_filters_clean,
    property_filters_parse,
)
from pulseboard.errors import ParamError


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("pro", "pro"),
        (" spaced ", " spaced "),  # strings are compared as they are
        ("19.99", "19.99"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (-4, "-4"),
        (2**70, "1180591620717411303424"),
        (19.99, "19.99"),
        (2.0, "2"),  # ClickHouse writes an integral float without a fraction
        (1e16, "10000000000000000"),
        (1e-5, "0.00001"),
        (1e-7, "1e-7"),
        (1.5e21, "1.5e21"),
        (0.30000000000000004, "0.30000000000000004"),
        (-0.0, "-0"),
    ],
)
def test_values_are_normalised_to_the_text_clickhouse_compares(value, text):
    assert filter_value_text(value) == text
    assert property_filter_clean({"key": "k", "operator": "equals", "value": value}) == PropertyFilter("k", "equals", text)


def test_is_set_takes_no_value_and_keys_are_trimmed():
    assert property_filter_clean({"key": " plan ", "operator": "is_set", "value": "ignored"}) == PropertyFilter("plan", "is_set", "")
    assert property_filter_clean({"key": "plan", "value": "pro"}).operator == "equals"  # the default operator


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ("plan", None, 'must be an object with "key", "operator" and "value"'),
        ({"operator": "equals", "value": "x"}, "key", "needs a property name"),
        ({"key": "  ", "value": "x"}, "key", "needs a property name"),
        ({"key": "k" * 201, "value": "x"}, "key", "the property name is longer than 200 characters"),
        ({"key": "plan", "operator": "like", "value": "x"}, "operator", "the operator must be one of equals, not_equals, contains, is_set"),
        ({"key": "plan", "operator": "equals"}, "value", "needs a value (or choose “is set”)"),
        ({"key": "plan", "operator": "contains", "value": ""}, "value", "needs a value (or choose “is set”)"),
        ({"key": "plan", "value": ["pro"]}, "value", "the value must be text, a number or true/false"),
        ({"key": "plan", "value": float("nan")}, "value", "the value must be text, a number or true/false"),
        ({"key": "plan", "value": "v" * 1001}, "value", "the value is longer than 1000 characters"),
    ],
)
def test_a_bad_filter_names_its_part(item, field, message):
    with pytest.raises(FilterError) as caught:
        property_filters_clean([{"key": "ok", "operator": "is_set"}, item])
    assert (caught.value.index, caught.value.field, caught.value.message) == (1, field, message)
    assert str(caught.value) == f"Filter 2: {message}"


def test_the_list_as_a_whole():
    assert property_filters_clean(None) == property_filters_clean("") == property_filters_clean([]) == []
    with pytest.raises(FilterError, match="must be a list like"):
        property_filters_clean({"key": "plan"})
    with pytest.raises(FilterError, match=f"at most {MAX_FILTERS} filters"):
        property_filters_clean([{"key": f"k{i}", "operator": "is_set"} for i in range(MAX_FILTERS + 1)])


def test_filters_in_a_request_parameter():
    assert property_filters_parse('[{"key": "price", "value": 2.0}]') == [PropertyFilter("price", "equals", "2")]
    for text, message in [("{bad", "must be a JSON list like"), ('[{"key": "x", "operator": "like"}]', "Filter 1: the operator")]:
        with pytest.raises(ParamError) as caught:
            property_filters_parse(text)
        assert caught.value.field == "filters" and message in caught.value.message


# --- Every place that takes filters goes through the rule ------------------------------------

RAW = [{"key": " price ", "operator": "equals", "value": 2.0}, {"key": "beta", "operator": "not_equals", "value": True}]
CLEAN = [{"key": "price", "operator": "equals", "value": "2"}, {"key": "beta", "operator": "not_equals", "value": "true"}]
MISSING_VALUE = [{"key": "plan", "operator": "contains", "value": ""}]


def via_insights_parameter(filters):
    return [f.as_json() for f in property_filters_parse(orjson.dumps(filters).decode())]


def via_trends_page(filters):
    """The trends page's repeated fkey/fop/fvalue rows: what a browser sends is text."""
    rows = [("fkey", f["key"]) for f in filters] + [("fop", f["operator"]) for f in filters]
    rows += [("fvalue", filter_value_text(f["value"])) for f in filters]
    request = RequestFactory().get("/", rows)
    return [f.as_json() for f in _form_filters(request)]


def via_funnel_model(filters):
    return filters_clean(filters)


def via_funnel_api(filters):
    serializer = StepSerializer(data={"event": "e", "filters": filters})
    if not serializer.is_valid():
        raise ValueError(serializer.errors)
    return serializer.validated_data["filters"]


def via_funnel_editor(filters):
    """The editor's two filter slots; what a browser sends is text."""
    data = {"event": "e"}
    for slot, f in enumerate(filters, start=1):
        data.update({f"f{slot}_key": f["key"], f"f{slot}_operator": f["operator"], f"f{slot}_value": filter_value_text(f["value"])})
    form = StepForm(data)
    if not form.is_valid():
        raise ValueError(form.errors)
    return form.cleaned_data["step"]["filters"]


SITES = [via_insights_parameter, via_trends_page, via_funnel_model, via_funnel_api, via_funnel_editor]


@pytest.mark.parametrize("site", SITES)
def test_every_site_normalises_the_same_way(site):
    assert site(RAW) == CLEAN


@pytest.mark.parametrize("site", SITES)
def test_every_site_refuses_a_filter_without_a_value(site):
    with pytest.raises((ParamError, ValidationError, ValueError)) as caught:
        site(MISSING_VALUE)
    assert "needs a value" in str(caught.value).lower()
