"""Errors of the annotation workflow. They are StoreErrors, so the CLI prints them without a traceback;
the web app maps each kind to its HTTP status."""

from __future__ import annotations

from flames.store import StoreError


class AnnotationError(StoreError):
    """A request the workflow refuses; the message says why and what to do instead."""

    status_code = 400


class NotFound(AnnotationError):
    status_code = 404


class Forbidden(AnnotationError):
    status_code = 403


class Conflict(AnnotationError):
    status_code = 409
