"""`import_fec`: every FEC variant of DOMAIN.md, every error (line numbers, nothing applied),
the warnings, atomic replacement, and the figures of the real samples."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.fec import drilldown, schedules
from client_portal_rp.fec.importer import ImportReport, import_fec, import_path
from client_portal_rp.fec.lines import BLOCK_LINES, party_lines
from client_portal_rp.fec.refs import piece_bucket
from client_portal_rp.fec.schedules import AGEING_COLUMNS, BUCKETS
from client_portal_rp.models import (
    AuditEvent,
    Company,
    FecImport,
    FecLineBlock,
    FecMonth,
    FecOpenItem,
    FecParty,
    FecPartyAgeing,
    FecPiece,
)
from tests.client_portal_rp.conftest import make_firm
from tests.client_portal_rp.fec.support import (
    HEADER,
    SAMPLES,
    fec_bytes,
    line,
    sale,
    sample,
    stream,
)

pytestmark = pytest.mark.usefixtures("portal_app")


def company(siren: str = "552100554") -> Company:
    """A company with this SIREN (the samples' SIRENs are made up: no Luhn key)."""
    target = Company(firm=make_firm(), name=f"Société {siren}", siren=siren)
    db.session.add(target)
    db.session.commit()
    return target


def run(
    target: Company, data: bytes, filename: str = "export.txt", **options: object
) -> ImportReport:
    return import_fec(target, stream(data), filename=filename, actor_label="tests", **options)  # type: ignore[arg-type]


def euros(cents: int) -> Decimal:
    return Decimal(cents) / 100


def to_euro(cents: int) -> int:
    """Rounded as the tax return rounds: half up."""
    return int(euros(cents).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def imports_of(target: Company) -> list[FecImport]:
    return list(db.session.scalars(select(FecImport).where(FecImport.company_id == target.id)))


SIMPLE = [
    *sale("1", "20250110", "1200,00"),
    *sale("2", "20250220", "300,50", customer="C002"),
    line(
        journal="AC",
        num="1",
        day="20250112",
        account="606100",
        label="Fournitures",
        piece="A-17",
        piece_day="20250112",
        debit="100,00",
    ),
    line(
        journal="AC",
        num="1",
        day="20250112",
        account="401000",
        label="Fournisseurs",
        aux="F01",
        aux_label="Papeterie Dupont",
        piece="A-17",
        piece_day="20250112",
        credit="100,00",
    ),
    line(journal="BQ", num="1", day="20250130", account="512000", label="Banque", debit="1200,00"),
    line(
        journal="BQ",
        num="1",
        day="20250130",
        account="411000",
        label="Clients",
        aux="C001",
        credit="1200,00",
        let="A",
        date_let="20250130",
    ),
]


# --- the real samples -----------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_imports_balanced(name: str) -> None:
    path = sample(name)
    siren = name.split("FEC")[0]
    target = company(siren if len(siren) == 9 else "552100554")
    report = import_path(target, path, actor_label="tests")
    assert report.ok, report.errors
    assert report.total_debit == report.total_credit
    stored = imports_of(target)
    assert len(stored) == 1
    assert stored[0].line_count == report.line_count > 900
    blocks = db.session.scalar(
        select(func.count()).select_from(FecLineBlock).where(FecLineBlock.import_id == stored[0].id)
    )
    assert blocks


def test_sample_123456789_gives_domain_figures_to_the_cent() -> None:
    report = import_path(company("123456789"), sample("123456789FEC20500930.txt"), actor_label="t")
    assert report.ok, report.errors
    totals = report.fec_import.totals  # type: ignore[union-attr]
    assert euros(totals["chiffre_affaires"]) == Decimal("1212843.90")
    assert euros(totals["creances_clients"]) == Decimal("128200.50")
    assert euros(totals["disponibilites"]) == Decimal("124818.33")
    assert euros(totals["dettes_fournisseurs"]) == Decimal("154890.59")
    assert euros(totals["resultat"]) == Decimal("126233.91")
    # the expected tax-return cells (rounded to the euro): FL, BX, CF, DX, HN
    assert to_euro(totals["chiffre_affaires"]) == 1212844
    assert to_euro(totals["creances_clients"]) == 128201
    assert to_euro(totals["disponibilites"]) == 124818
    assert to_euro(totals["dettes_fournisseurs"]) == 154891
    assert to_euro(totals["resultat"]) == 126234


def test_sample_000000000_matches_its_expected_cells_to_the_euro() -> None:
    """2035 (BNC) cells of 000000000FEC20231231-expected.csv: 214 CA, 264 charges, 310
    résultat, 084 disponibilités, 068 créances, 166 dettes."""
    report = import_path(company("000000000"), sample("000000000FEC20231231.txt"), actor_label="t")
    totals = report.fec_import.totals  # type: ignore[union-attr]
    got = {k: to_euro(v) for k, v in totals.items()}
    assert got["chiffre_affaires"] == 165298
    assert got["charges"] == 162293
    assert got["resultat"] == 3988
    assert got["disponibilites"] == 91971
    assert got["creances_clients"] == 27772
    assert got["dettes_fournisseurs"] == 4631


def test_monthly_flows_add_up_to_the_exercice() -> None:
    report = import_path(company("123456789"), sample("123456789FEC20500930.txt"), actor_label="t")
    fec_import = report.fec_import
    assert fec_import is not None
    months = list(
        db.session.scalars(
            select(FecMonth).where(FecMonth.import_id == fec_import.id).order_by(FecMonth.month)
        )
    )
    assert months[0].month == date(2022, 4, 1)
    assert sum(m.chiffre_affaires for m in months) == fec_import.totals["chiffre_affaires"]
    assert sum(m.charges for m in months) == fec_import.totals["charges"]
    last_in_period = [m for m in months if m.month <= fec_import.period_end][-1]
    assert last_in_period.disponibilites == fec_import.totals["disponibilites"]


def test_open_items_of_the_sample_reconcile_with_payables_and_receivables() -> None:
    report = import_path(company("123456789"), sample("123456789FEC20500930.txt"), actor_label="t")
    fec_import = report.fec_import
    assert fec_import is not None
    owed = dict(
        db.session.execute(
            select(FecOpenItem.side, func.sum(FecOpenItem.amount))
            .where(FecOpenItem.import_id == fec_import.id)
            .group_by(FecOpenItem.side)
        ).all()
    )
    assert owed["fournisseur"] == fec_import.totals["dettes_fournisseurs"]
    assert owed["client"] == fec_import.totals["creances_clients"]


def test_the_stored_ageing_of_the_sample_is_its_open_items_aged_one_by_one() -> None:
    """fec_party_ageing (the échéancier's sums, written at import in SQL) equals each open
    item put in its bucket by schedules.bucket_of, party by party."""
    report = import_path(company("123456789"), sample("123456789FEC20500930.txt"), actor_label="t")
    fec_import = report.fec_import
    assert fec_import is not None
    expected: dict[tuple[str, str], list[int]] = {}
    for item in db.session.scalars(
        select(FecOpenItem).where(FecOpenItem.import_id == fec_import.id)
    ):
        sums = expected.setdefault((item.side, item.party), [0] * (len(BUCKETS) + 1))
        days = (fec_import.period_end - item.due_date).days
        sums[BUCKETS.index(schedules.bucket_of(days, item.amount))] += item.amount
        sums[-1] += 1
    stored = {
        (row.side, row.party): [*(getattr(row, name) for name in AGEING_COLUMNS), row.item_count]
        for row in db.session.scalars(
            select(FecPartyAgeing).where(FecPartyAgeing.import_id == fec_import.id)
        )
    }
    assert len(stored) > 20 and stored == expected
    aged = {b for sums in expected.values() for b, c in zip(BUCKETS, sums[:-1], strict=True) if c}
    assert len(aged) >= 4  # the sample's items spread over the buckets: the bounds are tested


# --- variants -----------------------------------------------------------------------------


def _figures(report: ImportReport) -> dict[str, int]:
    assert report.ok, report.errors
    assert report.fec_import is not None
    return report.fec_import.totals


BASE = fec_bytes(SIMPLE)


def test_simple_file_figures() -> None:
    report = run(company(), BASE)
    totals = _figures(report)
    assert totals["chiffre_affaires"] == 150050
    assert totals["charges"] == 10000
    assert totals["resultat"] == 140050
    assert totals["disponibilites"] == 120000
    assert totals["creances_clients"] == 30050
    assert totals["dettes_fournisseurs"] == 10000
    assert report.encoding == "UTF-8" and report.separator == "\t" and report.column_count == 18


def test_the_pieces_of_the_books_are_kept_by_key_and_replaced_with_the_exercice() -> None:
    target = company()
    run(target, BASE)
    keys = stored_piece_keys()
    assert {"F1", "F2", "A17"} <= keys  # « A-17 » by its key; sales « F1 », « F2 »
    assert "" not in keys
    assert drilldown.piece_in_books(target, "a 17") and not drilldown.piece_in_books(target, "F3")
    run(target, fec_bytes([*SIMPLE[:2]]))  # the same exercice again, fewer lines
    assert stored_piece_keys() == {"F1"}


def stored_piece_keys() -> set[str]:
    """Every key of `fec_pieces`, each in the bucket of its last characters."""
    found: set[str] = set()
    for row in db.session.scalars(select(FecPiece)):
        keys = row.keys.split()
        assert row.keys == f" {' '.join(sorted(keys))} "
        assert all(piece_bucket(key) == row.bucket for key in keys)
        found.update(keys)
    return found


VARIANTS = {
    "pipe": lambda b: b.replace(b"\t", b"|"),
    "bom": lambda b: b"\xef\xbb\xbf" + b,
    "iso-8859-15": lambda b: (
        b.decode("utf-8").replace("Prestations", "Prestations réalisées €").encode("iso-8859-15")
    ),
    "crcrlf": lambda b: b.replace(b"\n", b"\r\r\n"),
    "crlf": lambda b: b.replace(b"\n", b"\r\n"),
    "trailing-separator": lambda b: b.replace(b"\n", b"\t\n"),
    "header-any-case": lambda b: b.replace(HEADER.encode(), HEADER.upper().encode(), 1),
    "no-final-newline": lambda b: b.rstrip(b"\n"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_give_the_same_figures(variant: str) -> None:
    expected = _figures(run(company("732829320"), BASE))
    got = _figures(run(company(), VARIANTS[variant](BASE)))
    assert got == expected


def test_iso_8859_15_text_is_read_as_such() -> None:
    data = VARIANTS["iso-8859-15"](BASE)
    report = run(company(), data)
    assert report.encoding == "ISO-8859-15"
    names = db.session.scalars(select(FecParty.label)).all()
    assert names  # parties stored
    assert report.ok


def test_latin_byte_after_the_first_chunk_restarts_as_iso_8859_15(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from client_portal_rp.fec import parser

    monkeypatch.setattr(parser, "CHUNK", 64)
    data = (
        fec_bytes([*SIMPLE, line(num="9", text="Réglé", debit="0,00", credit="0,00")])
        .decode()
        .encode("iso-8859-15")
    )
    report = run(company(), data)
    assert report.ok, report.errors
    assert report.encoding == "ISO-8859-15"
    assert report.line_count == len(SIMPLE) + 1


def test_windows_1252_text_is_read_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """The "ANSI" of Windows software: ’ (0x92) and € (0x80) are control characters in
    ISO-8859-15; in a piece that has them the file is read as Windows-1252, wherever it is."""
    from client_portal_rp.fec import parser

    monkeypatch.setattr(parser, "CHUNK", 64)
    rows = [*SIMPLE, line(num="9", text="Réglé", debit="0,00", credit="0,00")]
    text = fec_bytes(rows).decode().replace("Papeterie Dupont", "L’Atelier d’Œuvres €")
    assert "L’Atelier" in text
    report = run(company(), text.encode("cp1252"))
    assert report.ok, report.errors
    assert report.encoding == "Windows-1252"
    names = db.session.scalars(select(FecParty.label)).all()
    assert "L’Atelier d’Œuvres €" in " ".join(names), names
    assert not any("\x80" <= c <= "\x9f" for name in names for c in name)


def test_iso_8859_15_file_without_windows_bytes_stays_iso_8859_15() -> None:
    text = fec_bytes(SIMPLE).decode().replace("Papeterie Dupont", "Œuvres €")
    report = run(company(), text.encode("iso-8859-15"))
    assert report.encoding == "ISO-8859-15"
    names = " ".join(db.session.scalars(select(FecParty.label)).all())
    assert "Œuvres €" in names


def test_fixed_width_zero_padded_values_with_trailing_pipe() -> None:
    padded = [
        "VE  |VE11|00000001|20250109|70100000|VENTE               |        |          |"
        "VE  0123|20250109|VENTE   |0000000000,00|0000000069,60|  |        |20250331|||",
        "VE  |VE11|00000001|20250109|41100000|CLIENTS             |C1      |CLIENT UN |"
        "VE  0123|20250109|VENTE   |0000000069,60|0000000000,00|  |        |20250331|||",
    ]
    header = HEADER.replace("\t", "|") + "|"
    report = run(company(), fec_bytes(padded, header=header))
    totals = _figures(report)
    assert totals["chiffre_affaires"] == 6960
    assert report.fec_import is not None
    (stored,) = party_lines(report.fec_import.id, "C1").lines
    assert stored.piece_ref == "VE  0123"  # inner spaces kept, padding stripped
    assert stored.journal_code == "VE"
    assert stored.debit == 6960


@pytest.mark.parametrize(
    ("debit", "credit", "cents"),
    [
        ("12,5", "", 1250),
        ("-12,50", "", -1250),
        ("12,50-", "", -1250),
        ("+7", "", 700),
        ("0012.30", "", 1230),
        ("1 234,56", "", 123456),
        ("3,100", "", 310),
    ],
)
def test_amount_forms(debit: str, credit: str, cents: int) -> None:
    rows = [
        line(num="1", account="606000", debit=debit, credit=credit or "0,00"),
        line(
            num="1",
            account="401000",
            aux="F1",
            credit=debit.replace("-", "")
            if not debit.startswith("-") and not debit.endswith("-")
            else "0,00",
            debit=debit.strip("-") if debit.startswith("-") or debit.endswith("-") else "0,00",
        ),
    ]
    report = run(company(), fec_bytes(rows))
    assert _figures(report)["charges"] == cents


@pytest.mark.parametrize(("debit_sens", "credit_sens"), [("D", "C"), ("+1", "-1"), ("d", "c")])
def test_montant_and_sens(debit_sens: str, credit_sens: str) -> None:
    header = HEADER.replace("Debit\tCredit", "Montant\tSens")
    rows = [
        line(num="1", account="411000", aux="C1", debit="250,00", credit=debit_sens),
        line(num="1", account="706000", debit="250,00", credit=credit_sens),
    ]
    report = run(company(), fec_bytes(rows, header=header))
    assert report.amounts == "Montant/Sens"
    assert _figures(report)["chiffre_affaires"] == 25000


@pytest.mark.parametrize(
    "extra", [("DateRglt", "ModeRglt", "NatOp"), ("DateRglt", "ModeRglt", "NatOp", "IdClient")]
)
def test_21_and_22_columns(extra: tuple[str, ...]) -> None:
    header = HEADER + "\t" + "\t".join(extra)
    rows = [r + "\t" + "\t".join("" for _ in extra) for r in sale("1", "20250110", "99,99")]
    report = run(company(), fec_bytes(rows, header=header))
    assert report.column_count == 18 + len(extra)
    assert _figures(report)["chiffre_affaires"] == 9999


def test_blank_line_in_the_middle_is_ignored_and_numbers_stay_true() -> None:
    rows = [*sale("1", "20250110", "10,00"), "", line(num="2", account="706000", debit="x")]
    report = run(company(), fec_bytes(rows))
    assert [(e.line, e.message) for e in report.errors] == [(5, "Debit : montant illisible")]


# --- errors: French, with line numbers, nothing applied ------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (line(num="3", debit="12,3,4"), "Debit : montant illisible"),
        (line(num="3", credit="abc"), "Credit : montant illisible"),
        (line(num="3", debit="1,234"), "Debit : montant illisible"),
        (line(num="3", day="20251340"), "EcritureDate : date invalide (AAAAMMJJ attendu)"),
        (line(num="3", day="15/01/2025"), "EcritureDate : date invalide (AAAAMMJJ attendu)"),
        (line(num="3", piece_day="2025011"), "PieceDate : date invalide (AAAAMMJJ attendu)"),
        (
            line(num="3", let="A", date_let="2025-01-01"),
            "DateLet : date invalide (AAAAMMJJ attendu)",
        ),
        (line(num="3", account=""), "CompteNum : numéro de compte vide"),
        (line(num="", account="706000"), "EcritureNum : numéro d'écriture vide"),
        (line(journal="", num="3"), "JournalCode : code journal vide"),
    ],
)
def test_errors_name_the_line_and_apply_nothing(bad: str, message: str) -> None:
    target = company()
    report = run(target, fec_bytes([*sale("1", "20250110", "10,00"), bad]))
    assert not report.ok
    assert [(e.line, e.message) for e in report.errors] == [(4, message)]
    assert imports_of(target) == []
    assert db.session.scalar(select(func.count()).select_from(FecLineBlock)) == 0


def test_sens_error() -> None:
    header = HEADER.replace("Debit\tCredit", "Montant\tSens")
    report = run(company(), fec_bytes([line(debit="1,00", credit="X")], header=header))
    assert [(e.line, e.message) for e in report.errors] == [
        (2, "Sens : sens inconnu (D, C, +1 ou -1 attendu)")
    ]


def test_short_line_is_an_error_with_its_number() -> None:
    rows = [*sale("1", "20250110", "10,00"), "VT\tVentes\t2\t20250111\t706000"]
    report = run(company(), fec_bytes(rows))
    assert [e.line for e in report.errors] == [4]
    assert "5 champs au lieu de" in report.errors[0].message


def test_missing_columns_are_named() -> None:
    header = HEADER.replace("\tCompteLib", "")
    report = run(company(), fec_bytes([], header=header) + b"x\n")
    assert report.errors[0].line == 1
    assert "CompteLib" in report.errors[0].message


@pytest.mark.parametrize("data", [b"", b"\n\n", fec_bytes([])])
def test_empty_files(data: bytes) -> None:
    report = run(company(), data)
    assert not report.ok
    assert report.errors[0].message in {
        "Le fichier est vide.",
        "Le fichier ne contient aucune écriture.",
    }


def test_not_a_fec() -> None:
    report = run(company(), b"%PDF-1.7 some binary\x00\x01 stuff\n")
    assert not report.ok


def test_error_count_is_capped_with_a_summary() -> None:
    rows = [line(num=str(n), debit="?") for n in range(1, 80)]
    report = run(company(), fec_bytes(rows))
    assert len(report.errors) == 51
    assert report.errors[-1].message == "… et 29 autres lignes en erreur."


def test_file_of_another_siren_is_refused() -> None:
    target = company("552100554")
    report = run(target, BASE, filename="732829320FEC20251231.txt")
    assert not report.ok
    assert "732829320" in report.errors[0].message
    assert imports_of(target) == []


# --- warnings ---------------------------------------------------------------------------


def test_warnings_do_not_block() -> None:
    rows = [
        *sale("5", "20250110", "10,00"),
        *sale("4", "20250111", "10,00"),  # numbered backwards
        line(num="6", day="20250112", account="706000", credit="5,00"),  # unbalanced entry
        *sale("7", "20270101", "10,00"),  # after the closing date of the file name
    ]
    report = run(company("552100554"), fec_bytes(rows), filename="552100554FEC20251231.txt")
    assert report.ok, report.errors
    messages = " | ".join(w.message for w in report.warnings)
    assert "déséquilibré" in messages
    assert "1 écriture(s) déséquilibrée(s)" in messages
    assert "hors de l'exercice" in messages
    assert "non séquentielle" in messages
    assert not report.balanced
    stored = report.fec_import
    assert stored is not None and stored.warning_count >= 4
    assert stored.unbalanced_entries == 1
    assert stored.period_end == date(2025, 12, 31)


def test_closing_date_of_a_made_up_file_name_is_replaced_by_the_entries() -> None:
    report = run(company("552100554"), BASE, filename="552100554FEC20500930.txt")
    assert report.fec_import is not None
    assert report.fec_import.period_end == date(2025, 2, 28)
    assert report.fec_import.exercice == 2025
    assert "ne correspond pas aux écritures" in report.warnings[0].message


# --- replacement --------------------------------------------------------------------------


def test_reimport_replaces_the_exercice() -> None:
    target = company()
    first = run(target, BASE)
    assert first.ok
    again = run(target, fec_bytes(SIMPLE[:2]))
    assert again.ok and again.replaced
    stored = imports_of(target)
    assert len(stored) == 1
    assert stored[0].totals["chiffre_affaires"] == 120000
    assert db.session.scalar(select(func.count()).select_from(FecLineBlock)) == 1
    assert db.session.scalar(select(func.count()).select_from(FecParty)) >= 1
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.company_id == target.id)
    ).all()
    assert actions.count("fec.imported") == 2


def test_failed_reimport_keeps_the_previous_figures() -> None:
    target = company()
    run(target, BASE)
    failed = run(target, fec_bytes([line(debit="oops")]))
    assert not failed.ok
    stored = imports_of(target)
    assert len(stored) == 1 and stored[0].totals["chiffre_affaires"] == 150050


def test_two_exercices_live_side_by_side() -> None:
    target = company()
    run(target, BASE)
    previous = [r.replace("2025", "2024") for r in SIMPLE]
    assert run(target, fec_bytes(previous)).ok
    assert sorted(i.exercice for i in imports_of(target)) == [2024, 2025]


# --- parties, open items ---------------------------------------------------------------


def test_charges_go_to_the_entry_supplier_or_their_account() -> None:
    rows = [
        *SIMPLE,
        line(
            journal="OD",
            num="1",
            day="20250131",
            account="641000",
            label="Salaires",
            debit="2000,00",
        ),
        line(
            journal="OD",
            num="1",
            day="20250131",
            account="421000",
            label="Personnel",
            credit="2000,00",
        ),
    ]
    report = run(company(), fec_bytes(rows))
    fec_import = report.fec_import
    assert fec_import is not None
    parties = {
        p.party: (p.role, p.charges, p.label)
        for p in db.session.scalars(select(FecParty).where(FecParty.import_id == fec_import.id))
    }
    assert parties["F01"] == ("fournisseur", 10000, "Papeterie Dupont")
    assert parties["641000"] == ("compte", 200000, "Salaires")
    assert parties["C001"][0] == "client"


def test_open_items_follow_lettering_at_the_reporting_date() -> None:
    rows = [
        *sale("1", "20250110", "100,00", let="A"),  # lettered in the exercice (DateLet empty)
        *sale("2", "20250111", "200,00", let="B"),
        *sale("3", "20250112", "300,00"),  # not lettered
        line(journal="BQ", num="1", day="20251231", account="512000", debit="300,00"),
        line(journal="BQ", num="1", day="20251231", account="411000", aux="C001", credit="300,00"),
    ]
    # sale 2 lettered after the closing date: still open at the reporting date
    rows[2] = rows[2].replace("\tB\t\t", "\tB\t20260115\t")
    report = run(company("552100554"), fec_bytes(rows), filename="552100554FEC20251231.txt")
    fec_import = report.fec_import
    assert fec_import is not None
    items = db.session.scalars(
        select(FecOpenItem)
        .where(FecOpenItem.import_id == fec_import.id)
        .order_by(FecOpenItem.line_no)
    ).all()
    assert [(i.piece_ref, i.amount) for i in items] == [
        ("F2", 20000),
        ("F3", 30000),
        ("F1", -30000),
    ]
    first = items[0]
    assert first.due_date == date(2025, 2, 10)  # 20250111 + 30 days
    assert first.due_source == "delai"
    assert first.piece_key == "F2"


def test_payment_terms_of_the_company_are_capped_at_60_days() -> None:
    target = company()
    target.payment_terms_days = 90
    db.session.commit()
    report = run(target, fec_bytes(sale("1", "20250110", "10,00")))
    item = db.session.scalars(select(FecOpenItem)).one()
    assert report.ok
    assert item.due_date == date(2025, 3, 11)  # + 60 days


def test_drill_down_lines_come_in_blocks_in_date_order() -> None:
    rows = []
    for n in range(BLOCK_LINES + 5):
        day = f"202501{1 + n % 28:02d}"
        rows += sale(str(n + 1), day, "1,00")
    report = run(company(), fec_bytes(rows))
    assert report.fec_import is not None
    first = party_lines(report.fec_import.id, "C001")
    assert (first.blocks, first.total, len(first.lines)) == (2, BLOCK_LINES + 5, BLOCK_LINES)
    second = party_lines(report.fec_import.id, "C001", 1)
    assert len(second.lines) == 5
    days = [x.ecriture_date for x in first.lines + second.lines]
    assert days == sorted(days)
    assert party_lines(report.fec_import.id, "706000").total == 0  # revenue: not a party
    assert party_lines(report.fec_import.id, "C001", 7).lines == []


def test_the_demos_previous_exercice_is_a_year_earlier_balanced_and_scaled() -> None:
    from client_portal_rp.demo import previous_exercice_of

    rows = [*sale("1", "20240229", "10,01"), *sale("2", "20250110", "0,03"), *SIMPLE]
    report = run(company(), previous_exercice_of(fec_bytes(rows)))
    assert report.ok, report.errors
    assert report.unbalanced_entries == 0 and report.balanced
    assert report.fec_import is not None and report.fec_import.exercice == 2024
    assert report.fec_import.period_start == date(2023, 2, 28)  # 29 February, a year earlier
    assert report.fec_import.totals["chiffre_affaires"] == 901 + 3 + 108000 + 27045
