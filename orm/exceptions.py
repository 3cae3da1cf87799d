"""Errors raised by the ORM.

    OrmError
     ├── DeclarationError (TypeError)     an entity class is declared wrongly
     ├── ValidationError (ValueError)     a value does not fit its column
     ├── QueryError (ValueError)          a query no backend may serve as asked
     │    └── InvalidPageToken            a page token that is not this query's
     ├── NotFound (LookupError)           the entity to change does not exist
     ├── ConfigurationError (ValueError)  a database URL that cannot be used
     └── DatabaseUnavailable (ConnectionError)
                                          the backend cannot be reached; driver
                                          errors are translated into this one

Driver exceptions never leave a connector: each connector maps them to
``DatabaseUnavailable`` (or another of these) with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DatabaseUnavailable",
    "DeclarationError",
    "InvalidPageToken",
    "NotFound",
    "OrmError",
    "QueryError",
    "ValidationError",
]


class OrmError(Exception):
    """Base of every error the ORM raises."""


class DeclarationError(OrmError, TypeError):
    """An entity class is declared in a way the ORM cannot store."""


class ValidationError(OrmError, ValueError):
    """A value does not fit the column it is given for."""


class QueryError(OrmError, ValueError):
    """A query that Cassandra could not serve efficiently, refused everywhere."""


class InvalidPageToken(QueryError):
    """A page token that is malformed or belongs to another query."""


class NotFound(OrmError, LookupError):
    """The entity to remove or change does not exist."""


class ConfigurationError(OrmError, ValueError):
    """A database URL or option that cannot be used."""


class DatabaseUnavailable(OrmError, ConnectionError):
    """The database cannot be reached or failed to answer."""
