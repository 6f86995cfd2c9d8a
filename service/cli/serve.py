"""`primer-search serve`: the REST API and the drivers of the searches, in one process.

On start: upgrade the store's schema, open it, start the DriverManager (Ray embedded, or the
cluster at --ray-address / RAY_ADDRESS), resume the searches that were running when the server
went down (unless --no-resume), then serve the API with uvicorn until Ctrl-C, and stop the
drivers cleanly. Settings come from the environment (service/settings.py) and the options
override them. Everything heavy is imported inside the command.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Annotated

import typer

from primer_search.cli._console import console, err_console, reported_errors
from service.cli.inspect import DbOption

SHUTDOWN_SECONDS = 30.0


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind [default: PRIMER_SEARCH_HOST or 127.0.0.1].", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port [default: PRIMER_SEARCH_PORT or 8000].", show_default=False),
    ] = None,
    db: DbOption = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            envvar="RAY_ADDRESS",
            help="An existing Ray cluster [default: a local Ray started here].",
            show_default=False,
        ),
    ] = None,
    no_resume: Annotated[
        bool,
        typer.Option("--no-resume", help="Do not resume the searches that were running."),
    ] = False,
) -> None:
    """Serve the dashboard (at /) and the REST API (docs at /docs), and drive the searches."""
    import uvicorn

    from service.api import create_app
    from service.settings import Settings
    from service.store import SQLStore

    with reported_errors():
        settings = Settings.from_env()
        settings = replace(
            settings,
            host=host or settings.host,
            port=port or settings.port,
            database=db or settings.database,
        )
        _warn_if_exposed(settings.host, settings.api_token)
        store = SQLStore(settings.database, upgrade=True)
    try:
        with reported_errors():
            from service.manager import DriverManager  # Ray and the driver: only when serving

            manager = DriverManager(store, ray_address=ray_address)
        try:
            if not no_resume:
                with reported_errors():
                    resumed = manager.resume_running_searches()
                if resumed:
                    console.print(f"resumed searches: {resumed}", markup=False)
            app = create_app(store, manager, settings)
            base = f"http://{settings.host}:{settings.port}"
            console.print(
                f"primer-search dashboard on {base}/ (API docs at {base}/docs)", markup=False
            )
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
        finally:
            manager.shutdown(SHUTDOWN_SECONDS)
    finally:
        store.close()


def _warn_if_exposed(host: str, token: str | None) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it is reachable from elsewhere
        loopback = False
    if not loopback and token is None:
        err_console.print(
            f"warning: serving on {host} without a token; anyone who can reach it can start "
            "and stop searches (set PRIMER_SEARCH_API_TOKEN)",
            style="yellow",
            markup=False,
        )
