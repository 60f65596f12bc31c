"""Domain errors: every failure a user can cause, each with a sentence that says how to fix it."""

from __future__ import annotations

from storage.redact import mask_secrets


class PaperboyError(Exception):
    """Base of every error a user may see; ``str()`` is the sentence to show them.

    Credentials in URLs inside the sentence are masked here, once for every error.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask_secrets(a) if isinstance(a, str) else a for a in args))


class NotAListingError(PaperboyError):
    """The input is not in any format the parser knows (binary, CSV, empty...)."""


class SourceFormatError(PaperboyError):
    """A source's document could not be read as its declared kind."""


class FetchError(PaperboyError):
    """A source could not be fetched (network, HTTP status, size limit)."""


class ConfigError(PaperboyError):
    """The configuration has a missing, unknown or malformed key."""


class NotFoundError(PaperboyError):
    """A paper, author, topic or subscription that the user named does not exist."""


class InvalidInputError(PaperboyError):
    """An argument the user typed is malformed."""


class PermissionDeniedError(PaperboyError):
    """The user may not run this command here."""


class StoreError(PaperboyError):
    """The database is unusable (corrupt, newer schema, locked for too long)."""


class StoreBusyError(StoreError):
    """Another process held the database's write lock for longer than we waited."""
