"""Two imports of one exercice at once (the firm's staff double-click, the CLI and the page):
the exercice ends with exactly one import, whole, and no one sees a 500."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.fec.importer import ImportReport, import_fec
from client_portal_rp.models import Company, FecImport, FecLineBlock, FecMonth, Firm
from tests.client_portal_rp.fec.support import fec_bytes, sale, stream


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
