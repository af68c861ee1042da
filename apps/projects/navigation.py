"""The project navigation: the sidebar items and the project switcher, defined here once.

``navigation`` is a context processor: every template rendered with a request gets ``nav``,
whose attributes are computed on first use (a page that never shows them costs no query).
An item is only shown when its URL name resolves, so pages of other apps appear in the
sidebar as soon as their URLs exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from apps.projects.models import Membership, Project
from apps.projects.selectors import Access, memberships_for_user, role_allows


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str  # reversed with project_id
    icon: str  # a key of the icon set in templates/partials/icon.html
    exact: bool = False  # active only on its own URL, not on the pages below it


NAV_ITEMS: list[NavItem] = [
    NavItem("Overview", "analytics-overview", "overview", exact=True),
    NavItem("Dashboards", "dashboards-list", "dashboard"),  # apps/dashboards
    NavItem("Insights", "insights-list", "folder"),  # saved insights (apps/dashboards)
    NavItem("Web", "web-overview", "web"),  # apps/web
    NavItem("Events", "analytics-events", "events"),
    NavItem("Trends", "analytics-trends", "trends"),
    NavItem("Explorer", "analytics-explorer", "explorer"),
    NavItem("Live", "analytics-live", "live"),
    NavItem("Persons", "persons-list", "users"),
    NavItem("Funnels", "funnels-list", "funnels"),
    NavItem("Sessions", "web-sessions", "sessions"),  # apps/web
    NavItem("Paths", "web-paths", "paths"),  # apps/web
    NavItem("Retention", "analytics-retention", "retention"),
    NavItem("Stickiness", "analytics-stickiness", "stickiness"),
    NavItem("Lifecycle", "analytics-lifecycle", "lifecycle"),
    NavItem("Alerts", "alerts-list", "alert"),  # apps/alerts
    NavItem("Digest", "digests-settings", "text"),  # apps/digests: the member's email digest
    NavItem("Settings", "project-settings", "settings"),
]

# Where a project's links land when there is no better page: the first that exists.
HOME_URL_NAMES = ("analytics-overview", "project-settings")


def project_url(url_name: str, project_id: int) -> str | None:
    try:
        return reverse(url_name, kwargs={"project_id": project_id})
    except NoReverseMatch:
        return None


def project_home_url(*, project_id: int) -> str:
    for url_name in HOME_URL_NAMES:
        url = project_url(url_name, project_id)
        if url is not None:
            return url
    raise NoReverseMatch("No project page is installed (project-settings is missing).")


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    icon: str
    active: bool


@dataclass(frozen=True)
class SwitchLink:
    project: Project
    role: str
    url: str
    current: bool


class Navigation:
    def __init__(self, request: HttpRequest):
        self.request = request

    @cached_property
    def memberships(self) -> list[Membership]:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return []
        return list(memberships_for_user(user=user))

    @cached_property
    def projects(self) -> list[Project]:
        return [m.project for m in self.memberships]

    @cached_property
    def _project_id(self) -> int | None:
        match = getattr(self.request, "resolver_match", None)
        value = match.kwargs.get("project_id") if match else None
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @cached_property
    def membership(self) -> Membership | None:
        """The user's membership of the project this page belongs to (None off project pages)."""
        if self._project_id is None:
            return None
        return next((m for m in self.memberships if m.project_id == self._project_id), None)

    @cached_property
    def project(self) -> Project | None:
        return self.membership.project if self.membership else None

    @cached_property
    def is_owner(self) -> bool:
        return self.membership is not None and role_allows(self.membership.role, Access.OWN)

    @cached_property
    def can_edit(self) -> bool:
        """Whether the page may offer to change the project's insights (members and owners)."""
        return self.membership is not None and role_allows(self.membership.role, Access.EDIT)

    def _links(self, project_id: int) -> list[tuple[NavItem, str]]:
        return [(item, url) for item in NAV_ITEMS if (url := project_url(item.url_name, project_id)) is not None]

    def _active_item(self, links: list[tuple[NavItem, str]]) -> NavItem | None:
        path = self.request.path
        best: tuple[int, NavItem] | None = None
        for item, url in links:
            hit = path == url if item.exact else path.startswith(url)
            if hit and (best is None or len(url) > best[0]):
                best = (len(url), item)
        return best[1] if best else None

    @cached_property
    def items(self) -> list[NavLink]:
        """The sidebar of the current project, the active item marked."""
        if self.project is None:
            return []
        links = self._links(self.project.id)
        active = self._active_item(links)
        return [NavLink(item.label, url, item.icon, item is active) for item, url in links]

    def _switch_url(self, project_id: int) -> str:
        """The same kind of page in another project, else that project's home."""
        match = getattr(self.request, "resolver_match", None)
        # A GET page that only takes the project (a POST endpoint may have no GET page).
        if match is not None and self.request.method == "GET" and set(match.kwargs) == {"project_id"}:
            try:
                return reverse(match.view_name, kwargs={"project_id": project_id})
            except NoReverseMatch:
                pass
        if self.project is not None:
            active = self._active_item(self._links(self.project.id))
            if active is not None and (url := project_url(active.url_name, project_id)):
                return url
        return project_home_url(project_id=project_id)

    @cached_property
    def switch_links(self) -> list[SwitchLink]:
        current = self.project.id if self.project else None
        return [
            SwitchLink(m.project, m.get_role_display(), self._switch_url(m.project_id), m.project_id == current)
            for m in self.memberships
        ]


def navigation(request: HttpRequest) -> dict:
    return {"nav": Navigation(request)}
