"""The REST API (issue 5): FastAPI under /api/v1, OpenAPI docs at /docs.

    app = create_app(store, manager, settings)   # service/api/app.py

Routes (service/api/routes/, one module per resource) only translate HTTP to store and library
calls; the store's and the library's errors become status codes in service/api/errors.py.
"""

from service.api.app import API_PREFIX, create_app
from service.api.deps import SearchManager

__all__ = ["API_PREFIX", "SearchManager", "create_app"]
