"""What the store raises: a small tree under the project's root error (STYLE.md, principle 7).

Every SQLAlchemy or driver error is converted to one of these in ONE place, the transaction
context manager of `SQLStore` (service/store/sql.py), so callers never see a database exception.
The API maps them to status codes: NotFoundError -> 404, StateConflictError -> 409,
StoreArgumentError -> 422; StoreUnavailableError is worth a retry.
"""

from __future__ import annotations

from primer_search.errors import PrimerSearchError


class StoreError(PrimerSearchError):
    """Root of the store's errors: a database error that none of the subclasses describes."""


class NotFoundError(StoreError):
    """An unknown search id, or an individual id unknown in its search."""


class StateConflictError(StoreError):
    """The change conflicts with the current state: a status transition that is not allowed, a
    result for an individual that is already finished, a row that already exists. `current`
    names the state found (a status value) when there is one."""

    def __init__(self, message: str, current: str | None = None):
        super().__init__(message)
        self.current = current

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:
        # Pickled with `current` (the driver's writer process sends its errors back).
        return type(self), (str(self), self.current)


class LeaseLostError(StateConflictError):
    """A driver wrote to a search whose lease it does not hold (it expired and another driver
    took it over, or it was released): the writer must stop driving this search."""


class StoreArgumentError(StoreError, ValueError):
    """A bad argument to a store method (a page size out of range, an unknown sort key)."""


class StoreUnavailableError(StoreError):
    """The database could not be reached or stayed locked past the busy timeout; the operation
    was not applied (its transaction rolled back) and may be retried."""


class SchemaVersionError(StoreError):
    """The database's schema is not the one this code expects: older (run the upgrade) or newer
    (written by a newer primer-search; upgrade primer-search, never downgrade the database)."""
