"""Ray for the service: an embedded local Ray by default, or an existing cluster by address.

    init_ray()                       # embedded: a local Ray with this machine's CPUs
    init_ray("ray://head:10001")     # or "auto", or a GCS address "10.0.0.5:6379"

The standard RAY_ADDRESS variable is honoured by `ray.init` itself: when it is set and no address
is given, we connect there instead of starting a local Ray. An embedded Ray uses Ray's token
authentication (its default, without the warning on each start), runs no dashboard (the service
has its own), and does not forward the workers' output to this process's terminal (TensorFlow's
start-up lines would scroll over the CLI's progress bar; evaluation errors reach the driver as
results). Called once per process; later calls reuse the connection.
"""

from __future__ import annotations

import logging
import os

from primer_search.errors import PrimerSearchError

RAY_ADDRESS_ENV = "RAY_ADDRESS"


class RayStartError(PrimerSearchError):
    """Ray could not be started or reached."""


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connects this process to Ray (see the module doc). `num_cpus` sizes an embedded Ray
    (default: every CPU of the machine); it is ignored when connecting to a cluster."""
    import ray

    if ray.is_initialized():
        return
    target = address or os.environ.get(RAY_ADDRESS_ENV)
    # A new local Ray turns token authentication on by itself (the token in ~/.ray/auth_token,
    # where processes that join it find it) and says so on every start: keep that, quietly.
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    try:
        ray.init(
            address=address,  # None: ray.init reads RAY_ADDRESS, else starts a local Ray
            num_cpus=None if target else (num_cpus or os.cpu_count() or 1),
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {target}" if target else "an embedded Ray"
        raise RayStartError(f"could not start or reach {where}: {exc}") from None


def ray_address() -> str:
    """The GCS address of the Ray this process is connected to (for another process to join)."""
    import ray

    return str(ray.get_runtime_context().gcs_address)
