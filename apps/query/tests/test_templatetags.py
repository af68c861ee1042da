"""How insight pages write a page or URL into a narrow table cell."""

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
