"""The photo job (client_portal_rp/deposits/jobs.py): two runs at once write one result and
delete the located original once; an unreadable photo is marked failed and never served; a
deposit of the same bytes whose original another job already removed takes that job's result."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from client_portal_rp.deposits import jobs, services
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Deposit, Module, PortalUser, Processing
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, sign_in
from tests.client_portal_rp.test_deposits import (
    deposits_of,
    gps_in,
    jpeg_with_gps,
    page_of,
    post_files,
    url_of,
)


def deposit_bytes(company: Company, user: PortalUser | None, data: bytes, tmp: Path) -> Deposit:
    path = tmp / hashlib.sha256(data).hexdigest()[:12]
    path.write_bytes(data)
    achats = services.deposit_type_of(company, "achats")
    assert achats is not None
    result = services.deposit_file(
        company,
        achats,
        path=path,
        filename="photo.jpg",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=user,
    )
    db.session.commit()
    return result.deposit


def test_two_job_runs_at_once_write_one_result_and_remove_the_original(
    committed_portal: Flask, tmp_path: Path
) -> None:
    data = jpeg_with_gps((800, 600))
    with committed_portal.app_context():
        company = make_company(make_firm())
        deposit_id = deposit_bytes(company, None, data, tmp_path).id
    barrier = threading.Barrier(2)
    outcomes: list[bool] = []

    def run() -> None:
        with committed_portal.app_context():
            barrier.wait()
            outcomes.append(jobs.process_deposit(deposit_id))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) in ([False, True], [True])  # a late run sees it done
    with committed_portal.app_context():
        deposit = db.session.get(Deposit, deposit_id)
        assert deposit is not None and deposit.processing == Processing.DONE.value
        store = services.blob_store()
        assert not store.exists(deposit.sha256)  # the located original, gone once
        assert store.exists(deposit.blob_sha256) and store.exists(deposit.thumbnail_sha256 or "")
        with store.open(deposit.blob_sha256) as stream:
            assert gps_in(stream.read()) == {}
        assert jobs.run_pending() == 0


def test_an_unreadable_photo_is_marked_failed_and_never_served(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    user = make_member(company, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, user)
    broken = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13\x37" * 500
    assert post_files(portal_client, company, [("cassee.jpg", broken)]).status_code == 303
    (deposit,) = deposits_of(company)
    assert deposit.kind == "jpeg" and deposit.processing == Processing.FAILED.value
    for tail in ("fichier", "apercu"):
        response = portal_client.get(url_of(company, f"/{deposit.public_id}/{tail}"))
        assert response.status_code == 409
        assert "n&#39;a pas pu être lue" in response.get_data(as_text=True)
    assert portal_client.get(url_of(company, f"/{deposit.public_id}/vignette")).status_code == 404
    assert "photo illisible" in page_of(portal_client, url_of(company))
    assert jobs.run_pending() == 0  # failed is final: not retried forever


def test_a_second_deposit_of_a_photo_whose_original_was_removed_takes_the_first_result(
    portal_app: Flask, tmp_path: Path
) -> None:
    company = make_company(make_firm())
    data = jpeg_with_gps()
    first = deposit_bytes(company, None, data, tmp_path)
    # The second deposit of the same bytes is stored while the first is still pending ...
    second = deposit_bytes(company, None, data, tmp_path)
    assert second.duplicate_of_id == first.id
    # ... then the first job runs: it must keep the original the second one still needs.
    assert jobs.process_deposit(first.id) is True
    store = services.blob_store()
    assert store.exists(first.sha256)
    assert jobs.process_deposit(second.id) is True
    db.session.expire_all()
    assert not store.exists(first.sha256)  # nobody needs it any more: removed
    done_first = db.session.get(Deposit, first.id)
    done_second = db.session.get(Deposit, second.id)
    assert done_first is not None and done_second is not None
    assert done_second.blob_sha256 == done_first.blob_sha256 != done_first.sha256
    # A third deposit after the original is gone: its job reuses the processed result.
    third = deposit_bytes(company, None, data, tmp_path)
    store.delete(third.sha256)  # as if a job removed it between storing and the row
    assert jobs.process_deposit(third.id) is True
    db.session.expire_all()
    done_third = db.session.get(Deposit, third.id)
    assert done_third is not None and done_third.processing == Processing.DONE.value
    assert done_third.blob_sha256 == done_first.blob_sha256
