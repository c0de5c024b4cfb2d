"""Imports every module of API operations, so that they register on the blueprint."""

from client_portal_rp.api import (  # noqa: F401
    accesses,
    archives,
    companies,
    deposits,
    docs,
    fec,
    indicators,
)
