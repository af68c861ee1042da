"""Markdown of dashboard text cards, rendered safely with markdown-it-py.

A card's text is written by a project member and shown to every member and, on a shared
dashboard, to anyone with the link, so it must never carry markup of its own:

* raw HTML is off (``html=False``): ``<script>`` or ``<img onerror=...>`` in a card is shown
  as text, escaped;
* links keep only the schemes markdown-it allows (no ``javascript:``, ``vbscript:``,
  ``file:`` or ``data:``), and every link gets ``rel="nofollow noopener noreferrer"`` and
  opens in a new tab;
* images are off (they would make every viewer of a shared link fetch a URL of the author's
  choosing); ``![alt](url)`` shows as text;
* tables and strikethrough are on, as in GitHub's Markdown.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from django.utils.safestring import SafeString, mark_safe

LINK_REL = "nofollow noopener noreferrer"
MAX_TEXT = 10_000  # characters of a card


def _link_open(self: RendererHTML, tokens, idx, options, env) -> str:
    token = tokens[idx]
    token.attrSet("rel", LINK_REL)
    token.attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["image", "html_block", "html_inline"])
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _build()


def markdown_render(text: str) -> SafeString:
    """The HTML of a card's Markdown, safe to put in a page as it is."""
    return mark_safe(_MD.render(text or ""))
