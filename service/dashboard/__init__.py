"""The dashboard (issue 6): the pages a researcher keeps open while a search runs.

Served by `primer-search serve` beside the REST API, built on it: the HTML pages and their
assets carry no data (every number comes from /api/v1, fetched by the browser with the user's
token), so they are the only GET paths open without a token. Everything is served by the app
itself: vanilla ES modules and CSS, charts drawn on a canvas, no CDN, no build step.

    /                                  searches, and the form that launches one
    /search/{id}                       one search, updated live while it runs
    /search/{id}/individual/{iid}      one individual: program, diff, metrics, lineage
    /static/{version}/{file}           the assets, cached for good (the version is their hash)
"""

from service.dashboard.pages import PUBLIC_PATHS, dashboard_router

__all__ = ["PUBLIC_PATHS", "dashboard_router"]
