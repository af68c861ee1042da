"""How insight pages write figures, changes, and a page or URL into a narrow table cell."""

from django.template import Context, Template


def rendered(value: str) -> str:
    return Template("{% load query %}{{ value|url_breaks }}").render(Context({"value": value}))


def test_a_url_may_wrap_between_its_parts_and_nowhere_else():
    assert rendered("/products/widget-pro") == "/products<wbr>/widget-pro"
    assert rendered("/") == "/"
    assert rendered("https://x.test/a?b=1&c=2") == "https:<wbr>//x.test<wbr>/a?<wbr>b=<wbr>1&amp;<wbr>c=<wbr>2"


def test_what_the_url_holds_is_escaped():
    assert rendered('/<script>alert("x")</script>') == "/&lt;script&gt;alert(&quot;x&quot;)&lt;<wbr>/script&gt;"


def badge(change_pct, better: str | None = None) -> str:
    argument = f':"{better}"' if better else ""
    return Template("{% load query %}{{ change|delta_class" + argument + " }}").render(Context({"change": change_pct}))


def test_a_change_badge_is_green_when_the_figure_got_better():
    assert badge(12.5) == "up good"
    assert badge(-3.0) == "down bad"
    # A bounce rate that falls is good news: the arrow points down, the badge is green.
    assert badge(-5.6, "lower") == "down good"
    assert badge(4.0, "lower") == "up bad"
    assert badge(0) == badge(None) == badge(0, "lower") == "flat"


def figure(value, unit: str) -> str:
    return Template("{% load query %}{{ value|figure:unit }}").render(Context({"value": value, "unit": unit}))


def test_a_card_figure_reads_in_its_unit():
    assert figure(200.4, "duration") == "3m 20s"
    assert figure(75.0, "percent") == "75.0%"
    assert figure(4 / 3, "ratio") == "1.33"
    assert figure(12345, "") == "12,345"
    # A period with no sessions has no duration or rate: a dash, whatever the unit.
    assert figure(None, "duration") == figure(None, "percent") == figure(None, "") == "—"
