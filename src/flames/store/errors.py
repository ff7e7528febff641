"""The store's error for users, apart from the store itself so that it can be caught without loading
SQLAlchemy (the command line imports it at start-up)."""


class StoreError(Exception):
    """A request the store cannot satisfy; the message says what to do."""
