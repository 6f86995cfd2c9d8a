"""The dashboard's routes: three HTML pages and their static assets (no API data in either).

A page is a layout (templates/layout.html) around the page's own markup (templates/<page>.html):
the markup is the skeleton the page's ES module fills from /api/v1. The server puts in only what
the URL or the library already says (the search id, the individual's iid, the preset names).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from primer_search.config import PRESETS
from service.api.deps import Iid, SearchId
from service.dashboard.assets import REVALIDATE, Assets
from service.store.base import MAX_POINTS

TEMPLATES = Path(__file__).parent / "templates"

# The search page's largest API reads start from an inline script while its modules load
# (api.js takes the responses over; on a 401 it asks for the token and reads again). The paths
# must be the ones search.js asks for first; the token is where api.js keeps it (TOKEN_KEY).
PREFETCH = """<script>
window.primerPrefetch = (() => {{
  const token = localStorage.getItem("primer-search.api-token");
  const headers = {{ Accept: "application/json" }};
  if (token) headers.Authorization = `Bearer ${{token}}`;
  return Object.fromEntries({paths}.map((p) => [p, fetch(`/api/v1${{p}}`, {{ headers }})]));
}})();
</script>
"""

# The GET paths that BearerTokenMiddleware lets through without a token: the pages and the
# assets, which carry no data. Anything else (the API, /docs, unknown paths) stays guarded.
PUBLIC_PATHS = re.compile(r"/|/search/\d+|/search/\d+/individual/\d+|/static/[0-9a-f]+/[\w./-]+")


class Pages:
    def __init__(self, assets: Assets):
        self.assets = assets
        self.layout = (TEMPLATES / "layout.html").read_text(encoding="utf-8")
        self.bodies = {
            name: (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")
            for name in ("searches", "search", "individual")
        }

    def render(
        self, page: str, title: str, data: dict[str, str | int], prefetch: Sequence[str] = ()
    ) -> HTMLResponse:
        attrs = " ".join(f'data-{k}="{html.escape(str(v))}"' for k, v in data.items())
        body = self.bodies[page].replace("{{presets}}", _preset_options())
        early = PREFETCH.format(paths=json.dumps(list(prefetch))) if prefetch else ""
        text = (
            self.layout.replace("{{prefetch}}", early)
            .replace("{{main}}", body)
            .replace("{{title}}", html.escape(title))
            .replace("{{page}}", page)
            .replace("{{body_attrs}}", attrs)
            .replace("{{static}}", self.assets.prefix)
        )
        return HTMLResponse(text, headers={"Cache-Control": REVALIDATE})


def _preset_options() -> str:
    """The presets registered in this process (tests register more), tiny first when present."""
    names = sorted(PRESETS, key=lambda name: (name != "tiny", name))
    return "".join(f'<option value="{html.escape(n)}">{html.escape(n)}</option>' for n in names)


def dashboard_router() -> APIRouter:
    """The pages and the assets; reads the templates and static files once, here."""
    assets = Assets()
    pages = Pages(assets)
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def searches_page() -> HTMLResponse:
        return pages.render("searches", "Searches", {})

    @router.get("/search/{search_id}")
    def search_page(search_id: SearchId) -> HTMLResponse:
        base = f"/searches/{search_id}"
        prefetch = [base, f"{base}/points?after=0&limit={MAX_POINTS}", f"{base}/statistics"]
        return pages.render("search", f"Search {search_id}", {"search-id": search_id}, prefetch)

    @router.get("/search/{search_id}/individual/{iid}")
    def individual_page(search_id: SearchId, iid: Iid) -> HTMLResponse:
        title = f"Individual {iid} of search {search_id}"
        return pages.render("individual", title, {"search-id": search_id, "iid": iid})

    @router.get("/static/{version}/{name:path}")
    def static_asset(version: str, name: str) -> Response:
        return assets.response(version, name)

    return router
