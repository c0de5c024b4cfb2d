"""The API's tests: the portal app of tests/client_portal_rp/conftest.py, reading the test key set
(support.py)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.client_portal_rp.api.support import use_test_keys


@pytest.fixture
def api_client(portal_app: Flask) -> FlaskClient:
    use_test_keys(portal_app)
    return portal_app.test_client()
