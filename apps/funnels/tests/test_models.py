"""Funnel models, their validation and the write services."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from apps.funnels import engine
from apps.funnels.models import Funnel, FunnelStep, filters_clean
from apps.funnels.services import funnel_create, funnel_delete, funnel_update
from apps.query.filters import PropertyFilter

pytestmark = pytest.mark.django_db


def steps(*events):
    return [{"event": e} for e in events]


def test_choices_match_the_engine():
    assert tuple(Funnel.OrderMode.values) == engine.MODES
    assert tuple(Funnel.WindowUnit.values) == tuple(engine.WINDOW_UNITS)


def test_definition_is_the_engine_definition(member):
    funnel = funnel_create(
        project=member.project,
        name="Checkout",
        steps=[
            {"event": "viewed_item", "label": "Saw an item", "filters": [{"key": "plan", "operator": "equals", "value": "pro"}]},
            {"event": "added_to_cart", "filters": [{"key": "coupon", "operator": "is_set", "value": "ignored"}]},
            {"event": "purchase"},
        ],
        window_value=2,
        window_unit="hours",
        order_mode="strict",
        breakdown_property="browser",
        created_by=member.user,
    )
    definition = funnel.definition()
    assert definition == engine.FunnelDefinition(
        steps=(
            engine.Step(event="viewed_item", label="Saw an item", filters=(PropertyFilter("plan", "equals", "pro"),)),
            engine.Step(event="added_to_cart", filters=(PropertyFilter("coupon", "is_set", ""),)),
            engine.Step(event="purchase"),
        ),
        window_seconds=7200,
        mode="strict",
        breakdown="browser",
    )
    assert funnel.definition(breakdown="plan").breakdown == "plan"
    assert funnel.definition(breakdown="").breakdown is None
    assert funnel.created_by == member.user
    assert [s.order for s in funnel.steps.all()] == [1, 2, 3]


def test_steps_are_ordered_by_order_not_by_insertion(member):
    funnel = Funnel.objects.create(project=member.project, name="f")
    FunnelStep.objects.create(funnel=funnel, order=3, event="c")
    FunnelStep.objects.create(funnel=funnel, order=1, event="a")
    FunnelStep.objects.create(funnel=funnel, order=2, event="b")
    assert [s.event for s in funnel.definition().steps] == ["a", "b", "c"]


def test_step_order_is_unique_per_funnel(member):
    funnel = Funnel.objects.create(project=member.project, name="f")
    FunnelStep.objects.create(funnel=funnel, order=1, event="a")
    with pytest.raises(IntegrityError):
        FunnelStep.objects.create(funnel=funnel, order=1, event="b")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ("plan=pro", "must be a list"),
        ([{"key": "", "operator": "equals", "value": "x"}], "needs a property name"),
        ([{"operator": "equals", "value": "x"}], "needs a property name"),
        ([{"key": "plan", "operator": "like", "value": "x"}], "operator must be one of"),
        ([{"key": "plan", "operator": "equals"}], "needs a value"),
        ([{"key": "plan", "operator": "contains", "value": ""}], "needs a value"),
        (["plan"], "must be an object"),
    ],
)
def test_bad_filters_are_refused(filters, message):
    with pytest.raises(ValidationError, match=message):
        filters_clean(filters)


def test_filters_are_normalised():
    assert filters_clean([{"key": " plan ", "operator": "is_set"}, {"key": "n", "operator": "equals", "value": 3}]) == [
        {"key": "plan", "operator": "is_set", "value": ""},
        {"key": "n", "operator": "equals", "value": "3"},
    ]


def test_step_full_clean_checks_filters_and_event(member):
    funnel = Funnel.objects.create(project=member.project, name="f")
    step = FunnelStep(funnel=funnel, order=1, event="  ", filters=[{"key": "plan", "operator": "nope", "value": "x"}])
    with pytest.raises(ValidationError) as caught:
        step.full_clean()
    assert "filters" in caught.value.message_dict and "event" in caught.value.message_dict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": steps("only")}, "steps"),
        ({"steps": steps(*[f"e{i}" for i in range(21)])}, "steps"),
        ({"steps": [{"event": "a"}, {"event": " "}]}, "steps"),
        ({"steps": [{"event": "a"}, {"event": "b", "filters": [{"key": "k", "operator": "bad", "value": "v"}]}]}, "steps"),
        ({"steps": steps("a", "b"), "order_mode": "sideways"}, "order_mode"),
        ({"steps": steps("a", "b"), "window_unit": "weeks"}, "window_unit"),
        ({"steps": steps("a", "b"), "window_value": 0}, "window_value"),
        ({"steps": steps("a", "b"), "window_value": 366}, "window_value"),
        ({"steps": steps("a", "b"), "name": ""}, "name"),
    ],
)
def test_create_refuses_bad_definitions(member, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        funnel_create(project=member.project, **{"name": "f", **kwargs})
    assert field in caught.value.message_dict
    assert not Funnel.objects.exists()


def test_twenty_steps_are_fine(member):
    funnel = funnel_create(project=member.project, name="long", steps=steps(*[f"e{i}" for i in range(20)]))
    assert funnel.steps.count() == 20


def test_update_replaces_the_whole_definition(member):
    funnel = funnel_create(project=member.project, name="f", steps=steps("a", "b", "c"), breakdown_property="plan")
    funnel_update(funnel=funnel, name="g", steps=steps("x", "y"), window_value=30, window_unit="minutes", order_mode="unordered")
    funnel.refresh_from_db()
    assert (funnel.name, funnel.window_seconds, funnel.order_mode, funnel.breakdown_property) == ("g", 1800, "unordered", "")
    assert [(s.order, s.event) for s in funnel.steps.all()] == [(1, "x"), (2, "y")]


def test_a_refused_update_changes_nothing(member):
    funnel = funnel_create(project=member.project, name="f", steps=steps("a", "b"))
    with pytest.raises(ValidationError):
        funnel_update(funnel=funnel, name="g", steps=steps("x"))
    funnel.refresh_from_db()
    assert funnel.name == "f" and [s.event for s in funnel.steps.all()] == ["a", "b"]


def test_delete_removes_the_steps(member):
    funnel = funnel_create(project=member.project, name="f", steps=steps("a", "b"))
    funnel_delete(funnel=funnel)
    assert not FunnelStep.objects.exists()


def test_window_display():
    assert Funnel(window_value=1, window_unit="days").window_display == "1 day"
    assert Funnel(window_value=90, window_unit="minutes").window_display == "90 minutes"
