"""Two imports of one exercice at once (the firm's staff double-click, the CLI and the page):
the exercice ends with exactly one import, whole, and no one sees a 500. An e-invoice deposited
during the import of its books keeps its due date."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.fec import importer, schedules
from client_portal_rp.fec.importer import ImportReport, import_fec
from client_portal_rp.fec.schedules import Bucket, Side
from client_portal_rp.models import Company, FecImport, FecLineBlock, FecMonth, Firm
from tests.client_portal_rp.conftest import make_company, make_firm
from tests.client_portal_rp.fec.support import fec_bytes, sale, stream
from tests.client_portal_rp.fec.test_import_einvoices import due, import_books, invoice
from tests.client_portal_rp.test_einvoices import deposit_bytes


def test_two_imports_of_one_exercice_at_once_leave_one_whole_import(
    committed_portal: Flask,
) -> None:
    with committed_portal.app_context():
        firm = Firm(name="Cabinet Course")
        company = Company(firm=firm, name="Course SA", siren="552100554")
        db.session.add_all([firm, company])
        db.session.commit()
        company_id = company.id
        db.session.remove()
    files = {
        "a": fec_bytes([row for n in range(40) for row in sale(str(n + 1), "20250110", "10,00")]),
        "b": fec_bytes([row for n in range(60) for row in sale(str(n + 1), "20250210", "20,00")]),
    }
    reports: dict[str, ImportReport] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            with committed_portal.app_context():
                target = db.session.get(Company, company_id)
                assert target is not None
                barrier.wait()
                reports[name] = import_fec(
                    target, stream(files[name]), filename=f"{name}.txt", actor_label=name
                )
                db.session.remove()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert all(r.ok or "recommencez" in r.errors[0].message for r in reports.values())
    assert any(r.ok for r in reports.values())
    with committed_portal.app_context():
        (kept,) = db.session.scalars(select(FecImport).where(FecImport.company_id == company_id))
        months = db.session.scalar(
            select(func.count()).select_from(FecMonth).where(FecMonth.import_id == kept.id)
        )
        blocks = db.session.scalar(select(func.count()).select_from(FecLineBlock))
        # whole: the kept import's own rows only, none of the other's
        assert kept.filename in {"a.txt", "b.txt"}
        assert months == 1
        assert blocks == 1
        expected = 40 * 1000 if kept.filename == "a.txt" else 60 * 2000
        assert kept.totals["chiffre_affaires"] == expected
        db.session.remove()


def test_an_invoice_deposited_while_its_books_are_imported_keeps_its_due_date(
    committed_portal: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Factur-X deposited while the FEC carrying its number is being imported: the import
    has applied the invoices it could see (not this one, not committed yet) and the deposit
    looks for open items (not the import's, not committed yet). Neither may miss the other:
    the deposit waits for the import (one writer of a company's books at a time, ADR 0027),
    then finds its item. On SQLite the database's write lock serialises them already; on
    PostgreSQL the invoice's due date was lost before the lock."""
    with committed_portal.app_context():
        company_id = make_company(make_firm()).id  # with its deposit types
        db.session.remove()
    imported_its_invoices = threading.Event()
    deposited = threading.Event()
    real_apply = importer.apply_due_dates

    def apply_then_linger(company_id: int, import_id: int | None = None) -> int:
        changed = real_apply(company_id, import_id)
        imported_its_invoices.set()
        deposited.wait(timeout=2)  # the deposit, when it does not wait for this import
        return changed

    monkeypatch.setattr(importer, "apply_due_dates", apply_then_linger)
    failures: list[BaseException] = []

    def run_import() -> None:
        try:
            with committed_portal.app_context():
                target = db.session.get(Company, company_id)
                assert target is not None
                import_books(target)
                db.session.remove()
        except BaseException as exc:
            failures.append(exc)

    def run_deposit() -> None:
        try:
            assert imported_its_invoices.wait(timeout=30)
            with committed_portal.app_context():
                target = db.session.get(Company, company_id)
                assert target is not None
                deposit_bytes(target, invoice("FA-2050-0044", date(2051, 1, 31)), "fa44.pdf")
                deposited.set()
                db.session.remove()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run_import), threading.Thread(target=run_deposit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    with committed_portal.app_context():
        (books,) = db.session.scalars(select(FecImport).where(FecImport.company_id == company_id))
        assert due(books, "FA-2050-0044") == (date(2051, 1, 31), "facture")
        summary = schedules.schedule(books, Side.FOURNISSEURS)
        assert summary.totals.buckets[Bucket.NOT_DUE] == 24_000  # and the stored ageing moved
        db.session.remove()
