"""Schemathesis (v4) fuzzes every operation of the portal's OpenAPI document, authenticated as a
company admin with every module and an MFA token: no 5xx, and every answer as documented (its
status code, its content type, its headers, its body), and no operation that answers 2xx
without a valid token (ADR 0026).

One test per operation, each on its own database (portal_isolation): a firm, a company, a few
deposits and archives, so that half of the cases name real ids (the other half keep the
generated ones: 404). Uploads the fuzzer makes land in that test's database only (their blobs
in the session's blob store, under their digests).
Hypothesis is derandomized and small (max_examples per operation) so that CI is stable and fast.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from client_portal_rp import create_app, invitations
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Module, PortalUser, Role
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_user,
    portal_test_config,
)
from tests.client_portal_rp.fec.drill_factories import seed_books
from tests.client_portal_rp.test_archives import publish
from tests.client_portal_rp.test_deposits import a_pdf

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


@dataclass
class FuzzData:
    company: Company
    admin: PortalUser
    token: str
    real_ids: dict[str, str]  # path parameter -> an id that exists
    turn: Iterator[int]


@pytest.fixture
def fuzz_data(api_client: FlaskClient) -> FuzzData:
    company = make_company(make_firm())
    admin = make_member(company, make_user("admin@example.fr"), role=Role.ADMIN)
    colleague = make_member(company, make_user("colleague@example.fr"), modules={Module.DEPOSIT})
    token = token_for(admin, advanced=True)
    deposit_ids = []
    for n in range(3):
        answer = api_client.post(
            f"/api/v1/companies/{company.public_id}/deposits",
            data={"type": "achats", "file": (io.BytesIO(a_pdf(f"fuzz-{n}")), "a.pdf")},
            headers=bearer(token),
        )
        assert answer.status_code == 201, answer.json
        deposit_ids.append(answer.json["id"])
    documents = [publish(company, f"bilan-{n}.pdf", by=admin) for n in range(2)]
    seed_books(company)  # the compta operations: an imported FEC (exercice 2050)
    invitation = invitations.invite(
        firm=company.firm,
        company=company,
        email="denise@martin.test",
        name="Denise",
        role=Role.USER,
        modules={Module.ARCHIVES},
        invited_by=admin,
    ).invitation
    db.session.commit()
    real_ids = {
        "company_id": company.public_id,
        "deposit_id": deposit_ids[0],
        "document_id": documents[0].public_id,
        "user_id": colleague.public_id,
        "invitation_id": invitation.public_id,
        "side": "clients",
        "party": "F/ORANGE 1",
    }
    return FuzzData(company, admin, token, real_ids, itertools.count())


def _document_app() -> Flask:
    """A portal app of its own, only to serve the document at collection time (the cases run
    against the tests' `portal_app` and its database)."""
    root = Path(tempfile.mkdtemp(prefix="portal-openapi-"))
    return create_app(portal_test_config(f"sqlite:///{root / 'unused.sqlite'}", root))


# Loaded when pytest collects this file: one test per operation, each on a fresh database.
# (`schemathesis.pytest.from_fixture` would load it from `portal_app`, but schemathesis 4.32
# renames the test node through `_nodeid`, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _document_app())


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: Case, portal_app: Flask, fuzz_data: FuzzData
) -> None:
    if case.path_parameters and next(fuzz_data.turn) % 2 == 0:
        for name in case.path_parameters:
            if name in fuzz_data.real_ids:
                case.path_parameters[name] = fuzz_data.real_ids[name]
    case.call_and_validate(app=portal_app, headers=bearer(fuzz_data.token), checks=CHECKS)
