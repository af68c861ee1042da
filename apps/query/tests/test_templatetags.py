"""How insight pages write a page or URL into a narrow table cell."""

from django.template import Context, Template


def rendered(value: str) -> str:
    return Template("{% load query %}{{ value|url_breaks }}").render(Context({"value": value}))


def test_a_url_may_wrap_after_each_of_its_parts_and_nowhere_else():
    assert rendered("/products/widget-pro") == "/<wbr>products/<wbr>widget-pro"
    assert rendered("https://x.test/?a=1&b=2") == "https:/<wbr>/<wbr>x.test/<wbr>?<wbr>a=<wbr>1&amp;<wbr>b=<wbr>2"


def test_what_the_url_holds_is_escaped():
    assert rendered('/<script>alert("x")</script>') == "/<wbr>&lt;script&gt;alert(&quot;x&quot;)&lt;/<wbr>script&gt;"
