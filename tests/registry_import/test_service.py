"""registry_import.service.import_file from Python (docs/security.md 40-45): what the council
sees (errors with physical line numbers, counts, report) and what the registry holds after."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.audit.models import ActorKind, AuditEvent, AuditEventType
from idp.audit.services import Actor
from idp.extensions import db
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ImportStatus, ProfileClaim, RegistryImport
from idp.registry.names import search_key
from idp.registry.services import UnknownCouncil
from registry_import.service import import_file
from tests.factories import create_registry_entry, create_user
from tests.registry_import.files import (
    HEADER,
    csv_bytes,
    entries,
    member,
    members,
    registry_dump,
    run_import,
    xlsx_bytes,
)

pytestmark = pytest.mark.usefixtures("app")


def _audit(event_type: AuditEventType) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == event_type.value)
            .order_by(AuditEvent.id)
        )
    )


def _report_rows(outcome_csv: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(outcome_csv, newline=""), delimiter=";"))


# --- SECURITY.md 40: bad rows, line numbers, nothing applied ----------------------------------


def test_registry_import_reports_bad_rows_with_line_numbers_and_applies_nothing() -> None:
    rows = [
        member("100001"),
        member("100002", birth="31/02/1980"),
        member("100003", category="Président du monde"),
        member("100004", email="jean@@cabinet.fr"),
        member("100001", family="Martin"),
        member("100006", status="Démissionnaire"),
    ]

    outcome = run_import(csv_bytes(rows))

    assert [str(e) for e in outcome.errors] == [
        "ligne 2 : numéro d'inscription 100001 en double (aussi ligne 6)",
        "ligne 3 : date de naissance impossible (31/02/1980)",
        "ligne 4 : catégorie inconnue (« Président du monde »)",
        "ligne 5 : adresse email invalide (« jean@@cabinet.fr »)",
        "ligne 6 : numéro d'inscription 100001 en double (déjà ligne 2)",
        "ligne 7 : statut inconnu (« Démissionnaire ») : inscrit, suspendu ou radié attendu",
    ]
    record = outcome.record
    assert record.status == ImportStatus.REFUSED and not outcome.applied
    assert (record.rejected, record.added, record.rows_total) == (6, 0, 6)
    assert "Import refusé : 6 lignes en erreur, rien n'a été appliqué" in outcome.message
    assert entries() == {}
    report_lines = _report_rows(record.report_csv)
    assert ["3", "100002", "erreur", "", "", "", "date de naissance impossible (31/02/1980)"] in (
        report_lines
    )
    assert record.summary["errors"][0] == {
        "line": 2,
        "registration_number": "100001",
        "message": "numéro d'inscription 100001 en double (aussi ligne 6)",
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth", "", "date de naissance manquante"),
        ("birth", "1980/31/02", "date de naissance illisible (« 1980/31/02 ») : JJ/MM/AAAA ou"),
        ("birth", "2031-01-01", "date de naissance dans le futur (01/01/2031)"),
        ("birth", "01/01/1850", "date de naissance invraisemblable (01/01/1850)"),
        ("birth", "1980-02-30", "date de naissance impossible (1980-02-30)"),
        ("number", "", "numéro d'inscription manquant"),
        ("number", "A" * 21, "numéro d'inscription trop long (« AAAAAAAAAAAAAAAAAAAAA » : 21"),
        ("number", "=1+2", "numéro d'inscription invalide (« =1+2 »)"),
        ("family", "Dupont2", "nom invalide (« Dupont2 ») : chiffres interdits"),
        ("family", '=HYPERLINK("http://x")', 'nom invalide (« =HYPERLINK("http://x") ») : un'),
        ("family", "+33", "nom invalide (« +33 ») : un nom ne commence pas par =, +, - ou @"),
        ("family", "-Dupont", "nom invalide (« -Dupont ») : un nom ne commence pas par"),
        ("family", "@Dupont", "nom invalide (« @Dupont ») : un nom ne commence pas par"),
        ("family", "Du\x07pont", "nom invalide (« Du\ufffdpont ») : caractères de contrôle"),
        ("family", "", "nom manquant"),
        ("given", "Jean;", "prénom invalide (« Jean; ») : seuls les lettres"),
        ("siren", "12345678", "SIREN invalide (« 12345678 ») : 9 chiffres attendus"),
        ("siren", "732829321", "SIREN invalide (732829321) : clé de contrôle fausse"),
        ("category", "", "catégorie manquante"),
    ],
)
def test_registry_import_names_each_bad_value(field: str, value: str, message: str) -> None:
    values = {
        "number": "100001",
        "family": "Lefèvre",
        "given": "Jean",
        "birth": "12/04/1975",
        "siren": "732829320",
        "category": "Expert-comptable",
    }
    values[field] = value
    row = member(
        values["number"],
        values["family"],
        values["given"],
        values["birth"],
        category=values["category"],
        siren=values["siren"],
    )

    outcome = run_import(csv_bytes([member("100000"), row]))

    assert len(outcome.errors) == 1
    assert outcome.errors[0].line == 3 and outcome.errors[0].message.startswith(message)
    assert outcome.record.status == ImportStatus.REFUSED and entries() == {}


def test_registry_import_accepts_names_of_real_people() -> None:
    names = [
        ("D'Arcy", "Anne-Sophie"),
        ("Le Bihan", "Jean Pierre Marie"),
        ("Œuvray", "Zoé"),
        ("O’Neil", "Seán"),
        ("Saint-Exupéry", "Antoine Jean-Baptiste Marie Roger"),
        ("St. Clair", "J."),
    ]
    rows = [member(str(100001 + n), family, given) for n, (family, given) in enumerate(names)]

    outcome = run_import(csv_bytes(rows))

    assert outcome.errors == [] and outcome.applied
    stored = entries()
    assert [(e.family_name, e.given_names) for e in stored.values()] == names
    assert stored["100001"].search_key == search_key("D'Arcy", "Anne-Sophie") == "darcyannesophie"


# --- SECURITY.md 41: encodings and separators --------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "iso-8859-15"])
@pytest.mark.parametrize("separator", [";", ",", "\t"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_registry_import_reads_every_encoding_and_separator(
    encoding: str, separator: str, newline: str
) -> None:
    rows = [
        member("100001", "Lefèvre", "Jean-François", firm="Cabinet Œuvre, Conseil & Associés"),
        member("100002", "Œuvray", "Zoé", "1980-02-03", "", "Salarié d'AGC (83 quater)"),
    ]
    data = csv_bytes(rows, encoding=encoding, separator=separator, newline=newline)

    outcome = run_import(data)

    assert outcome.errors == [] and outcome.applied and outcome.record.added == 2
    expected_encoding = {"iso-8859-15": ("cp1252", "iso8859_15")}.get(encoding, (encoding,))
    assert outcome.facts is not None and outcome.facts.encoding in expected_encoding
    assert outcome.facts.separator == separator
    stored = entries()
    assert stored["100001"].family_name == "Lefèvre"
    assert stored["100001"].given_names == "Jean-François"
    assert stored["100001"].firm_name == "Cabinet Œuvre, Conseil & Associés"
    assert stored["100002"].family_name == "Œuvray" and stored["100002"].email is None
    assert stored["100002"].category == "salarie-agc"
    assert stored["100002"].birth_date == date(1980, 2, 3)


def test_registry_import_tells_cp1252_from_iso_8859_15() -> None:
    """0x9C is "œ" in cp1252 (and a C1 control in ISO-8859-15); 0xBD is "œ" in ISO-8859-15
    (and "½" in cp1252): each file reads as the council wrote it."""
    rows = [member("100001", "Cœurderoy", "Zoé")]

    cp1252 = run_import(csv_bytes(rows, encoding="cp1252"))
    assert cp1252.facts is not None and cp1252.facts.encoding == "cp1252"
    assert entries()["100001"].family_name == "Cœurderoy"

    rows = [member("100002", "Sœurdelaine", "Zoé")]
    iso = run_import(csv_bytes(rows, encoding="iso-8859-15"))
    assert iso.facts is not None and iso.facts.encoding == "iso8859_15", iso.file_error
    assert entries()["100002"].family_name == "Sœurdelaine"


def test_registry_import_reads_xlsx_numbers_and_dates() -> None:
    rows = [
        [
            12345,
            "Lefèvre",
            "Jean-François",
            date(1975, 4, 12),
            "jf@cabinet.fr",
            "EC",
            "Inscrit",
            "",
            732829320,
        ],
        ["A-77", "Zoé", "Anaïs", 29000, "", "Stagiaire", "", "", ""],  # serial 29000: 25/05/1979
        [67890, "Martin", "Paul", "1980-02-03", "", "Expert-comptable", "radié", "", 12345674],
    ]

    outcome = run_import(xlsx_bytes(rows), file_name="tableau.xlsx")

    assert outcome.errors == [] and outcome.applied
    assert outcome.facts is not None and outcome.facts.kind == "xlsx"
    stored = entries()
    assert set(stored) == {"12345", "A-77", "67890"}
    assert stored["12345"].birth_date == date(1975, 4, 12)
    assert stored["12345"].firm_siren == "732829320"
    assert stored["A-77"].birth_date == date(1979, 5, 25)
    assert stored["67890"].status == RegistryStatus.RADIE
    assert stored["67890"].firm_siren == "012345674"  # the leading zero Excel dropped


def test_registry_import_xlsx_errors_name_spreadsheet_rows() -> None:
    rows = [
        member("100001"),
        ["", "", "", "", "", "", "", "", ""],
        member("100003", birth="31/02/1980"),
    ]

    outcome = run_import(xlsx_bytes(rows), file_name="tableau.xlsx")

    assert [str(e) for e in outcome.errors] == [
        "ligne 4 : date de naissance impossible (31/02/1980)"
    ]


def _mixed_encodings() -> bytes:
    first = csv_bytes([member("100001", "Lefèvre")], encoding="utf-8")
    second = "100002;Hélène;Zoé;12/04/1975;;EC;;;\r\n".encode("cp1252")
    return first + second


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_mixed_encodings(), "le fichier mélange deux encodages"),
        (
            csv_bytes([member("100001", "Lefèvre")], encoding="utf-8-sig")
            + "100002;Hélène;Zoé;12/04/1975;;EC;;;\r\n".encode("cp1252"),
            "le fichier mélange deux encodages",
        ),
        (csv_bytes([member()], encoding="utf-16"), "le fichier est en UTF-16"),
        (
            csv_bytes([member()]).replace(b"Jean", b"J\x00\x01n"),
            "le fichier contient des octets nuls",
        ),
        (
            csv_bytes([member()], encoding="cp1252").replace(b"Lef\xe8vre", b"Lef\x81\x8d\x90vre"),
            "encodage du fichier non reconnu",
        ),
        ("Lefèvre;Jean\r\n".encode("mac_roman") * 3, "encodage du fichier non reconnu"),
        (b"", "le fichier est vide"),
        (b"PK\x03\x04not really a zip", "classeur illisible"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "les fichiers .xls (Excel 97-2003)"),
    ],
    ids=[
        "utf8-then-cp1252",
        "bom-then-cp1252",
        "utf16",
        "nul",
        "undefined",
        "macroman",
        "empty",
        "zip",
        "xls",
    ],
)
def test_registry_import_refuses_a_misdetected_file(data: bytes, message: str) -> None:
    before = registry_dump()

    outcome = run_import(data)

    assert outcome.file_error is not None and outcome.file_error.startswith(message)
    assert outcome.record.status == ImportStatus.FAILED and not outcome.applied
    assert outcome.record.summary["message"].startswith("Fichier refusé : ")
    assert outcome.record.file_size == len(data)
    assert entries() == {}
    assert [row for row in registry_dump() if row[0] == "registry_entries"] == [
        row for row in before if row[0] == "registry_entries"
    ]


# --- SECURITY.md 43: the same file twice -------------------------------------------------------


def test_registry_import_same_file_twice_changes_nothing() -> None:
    data = csv_bytes(members(50), encoding="cp1252")
    first = run_import(data)
    assert first.record.added == 50
    before = {n: (e.updated_at, e.last_import_id) for n, e in entries().items()}

    second = run_import(data)

    assert second.applied and second.no_change
    assert second.message == "Aucun changement : le registre est déjà à jour."
    r = second.record
    assert (r.added, r.changed, r.unchanged, r.struck_off, r.rejected) == (0, 0, 50, 0, 0)
    assert second.changes == []
    after = {n: (e.updated_at, e.last_import_id) for n, e in entries().items()}
    assert after == before  # not even touched
    assert r.file_sha256 == first.record.file_sha256
    assert r.summary["no_change"] is True


# --- SECURITY.md 44: a council imports only its own region ----------------------------------


def test_registry_import_refuses_rows_of_another_council() -> None:
    other = create_registry_entry("Rival", "Paul", registration_number="200002", council_code="ARA")
    header = (*HEADER, "Conseil régional")
    rows = [
        [*member("100001"), "IDF"],
        [*member("100002"), "Auvergne-Rhône-Alpes"],
        [*member("100003"), "CROEC Paris Île-de-France"],
        [*member("100004"), "Atlantide"],
        [*member("200002", "Rival", "Paul"), ""],
    ]

    outcome = run_import(csv_bytes(rows, header=header), allow_partial=True)

    assert [str(e) for e in outcome.errors] == [
        "ligne 3 : inscription d'un autre conseil régional (ARA) : ce fichier est importé pour "
        "IDF, un conseil n'importe que ses propres inscriptions",
        "ligne 5 : conseil régional inconnu (« Atlantide »)",
        "ligne 6 : le numéro d'inscription 200002 est inscrit au conseil régional ARA : un "
        "conseil ne modifie pas l'inscription d'un autre",
    ]
    stored = entries()
    assert set(stored) == {"100001", "100003", "200002"}
    db.session.refresh(other)
    assert other.council.code == "ARA" and other.family_name == "Rival"
    assert other.last_import_id is None


def test_registry_import_unknown_council_raises_and_records_nothing() -> None:
    with pytest.raises(UnknownCouncil):
        import_file(
            db.session,
            io.BytesIO(csv_bytes([member()])),
            file_name="t.csv",
            council_code="XYZ",
            actor=Actor(ActorKind.CLI),
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(RegistryImport)) == 0


# --- SECURITY.md 45: formula injection in the report ------------------------------------------


def test_registry_import_report_neutralises_formula_injection() -> None:
    run_import(csv_bytes(members(5)))
    hostile = {
        "100001": ('=HYPERLINK("http://evil.example","x")', ""),
        "100002": ("@SUM(A1:A9)", ""),
        "100003": ("-2+3", ""),
        "100004": ("Cabinet", "+33@cabinet.fr"),
        "100005": ("Cabinet", "-x@cabinet.fr"),
    }
    rows = members(5)
    for row in rows:
        row[7], email = hostile[row[0]]
        row[4] = email or row[4]
    rows.append(member("100006", "=cmd|' /C calc'!A0"))

    outcome = run_import(csv_bytes(rows), allow_partial=True)

    assert outcome.applied and outcome.record.changed == 5 and outcome.record.rejected == 1
    cells = [cell for row in _report_rows(outcome.record.report_csv) for cell in row]
    for neutralised in (
        '\'=HYPERLINK("http://evil.example","x")',
        "'@SUM(A1:A9)",
        "'-2+3",
        "'+33@cabinet.fr",
        "'-x@cabinet.fr",
    ):
        assert neutralised in cells
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    stored = entries()
    assert stored["100001"].firm_name == '=HYPERLINK("http://evil.example","x")'  # as given
    assert stored["100004"].email == "+33@cabinet.fr"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Lefèvre", "Lefèvre"),
        ("", ""),
    ],
)
def test_registry_import_report_neutralises_each_formula_start(value: str, cell: str) -> None:
    from registry_import.report import neutralise, render, report_line

    assert neutralise(value) == cell
    rendered = render([report_line(2, value, "error", "", value, value, value)])
    (row,) = _report_rows(rendered)[1:]
    assert row == ["2", cell, "erreur", "", cell, cell, cell]


# --- the diff ---------------------------------------------------------------------------------


def test_registry_import_reports_changed_fields_old_to_new() -> None:
    base = run_import(csv_bytes([member("100001"), member("100002")]))
    first_id = base.record.id
    changed = member("100002", email="nouvelle@cabinet.fr", status="Suspendu", birth="13/04/1975")

    outcome = run_import(csv_bytes([member("100001"), changed]))

    assert outcome.applied and (outcome.record.changed, outcome.record.unchanged) == (1, 1)
    (change,) = outcome.changes
    assert (change.registration_number, change.line, change.kind) == ("100002", 3, "changed")
    assert [(f.field, f.old, f.new) for f in change.changes] == [
        ("birth_date", "12/04/1975", "13/04/1975"),
        ("email", "jf.lefevre@cabinet-lefevre.fr", "nouvelle@cabinet.fr"),
        ("status", "inscrit", "suspendu"),
    ]
    stored = entries()
    assert stored["100002"].status == "suspendu" and stored["100002"].email == "nouvelle@cabinet.fr"
    assert stored["100002"].last_import_id == outcome.record.id
    assert stored["100001"].last_import_id == first_id
    report = _report_rows(outcome.record.report_csv)
    assert ["3", "100002", "modification", "Statut", "inscrit", "suspendu", ""] in report


def test_registry_import_full_strikes_off_absent_entries() -> None:
    run_import(csv_bytes(members(5)))
    other = create_registry_entry(
        "Autre", "Conseil", registration_number="900001", council_code="ARA"
    )
    already = create_registry_entry(
        "Ancien", "Membre", registration_number="900002", status=RegistryStatus.RADIE
    )
    file_rows = members(5)[:3]

    plain = run_import(csv_bytes(file_rows))
    assert plain.no_change and plain.record.struck_off == 0

    full = run_import(csv_bytes(file_rows), full=True)

    assert full.applied and full.record.struck_off == 2 and full.record.full
    assert [(c.registration_number, c.kind, c.line) for c in full.changes] == [
        ("100004", "struck_off", None),
        ("100005", "struck_off", None),
    ]
    stored = entries()
    assert stored["100004"].status == stored["100005"].status == RegistryStatus.RADIE
    assert stored["100004"].last_import_id == full.record.id  # never deleted
    assert stored["100001"].status == RegistryStatus.INSCRIT
    db.session.refresh(other)
    db.session.refresh(already)
    assert other.status == RegistryStatus.INSCRIT and already.last_import_id is None


def test_registry_import_full_never_strikes_off_a_refused_row() -> None:
    run_import(csv_bytes(members(3)))
    rows = members(3)
    rows[1][3] = "31/02/1980"

    outcome = run_import(csv_bytes(rows), full=True, allow_partial=True)

    assert outcome.applied and outcome.record.rejected == 1 and outcome.record.struck_off == 0
    assert entries()["100002"].status == RegistryStatus.INSCRIT


def test_registry_import_allow_partial_applies_good_rows() -> None:
    rows = [member("100001"), member("100002", birth="31/02/1980"), member("100003")]

    refused = run_import(csv_bytes(rows))
    assert refused.record.status == ImportStatus.REFUSED and entries() == {}
    assert refused.record.added == 2  # what would have been added

    partial = run_import(csv_bytes(rows), allow_partial=True)

    assert partial.applied and [str(e) for e in partial.errors] == [
        "ligne 3 : date de naissance impossible (31/02/1980)"
    ]
    assert set(entries()) == {"100001", "100003"}
    assert partial.message == (
        "Import appliqué aux lignes valides : 2 ajoutées, 0 modifiée, 0 radiée ; "
        "1 ligne en erreur non appliquée."
    )


def test_registry_import_dry_run_changes_nothing() -> None:
    before = registry_dump()

    outcome = run_import(csv_bytes(members(3)), dry_run=True)

    assert outcome.record.status == ImportStatus.PREVIEWED and outcome.record.added == 3
    assert len(outcome.changes) == 3 and outcome.record.dry_run
    assert entries() == {}
    assert [r for r in registry_dump() if r[0] != "registry_imports"] == before


def test_registry_import_absent_optional_column_keeps_stored_value() -> None:
    run_import(csv_bytes([member("100001", email="garde@cabinet.fr", firm="Cabinet")]))
    header = ("Numéro d'inscription", "Nom", "Prénom(s)", "Date de naissance", "Catégorie")

    outcome = run_import(
        csv_bytes(
            [["100001", "Lefèvre", "Jean-François", "12/04/1975", "Expert-comptable"]],
            header=header,
        )
    )

    assert outcome.no_change
    stored = entries()["100001"]
    assert stored.email == "garde@cabinet.fr" and stored.firm_name == "Cabinet"


def test_registry_import_email_added_by_the_council_appears_on_the_entry() -> None:
    run_import(csv_bytes([member("100001", email="")]))
    assert entries()["100001"].email is None

    outcome = run_import(csv_bytes([member("100001", email="Jean.Lefevre@Cabinet.FR")]))

    assert outcome.record.changed == 1
    assert entries()["100001"].email == "jean.lefevre@cabinet.fr"


# --- effects on accounts ----------------------------------------------------------------------


def test_registry_import_claims_lost_and_restored_are_audited() -> None:
    run_import(csv_bytes([member("100001"), member("100002")]))
    holder = create_user("jf.lefevre")
    stored = entries()
    db.session.add(ProfileClaim(user_id=holder.id, registry_entry_id=stored["100001"].id))
    db.session.commit()
    admin = create_user("marie.conseil")
    actor = Actor.user(admin)

    suspended = run_import(
        csv_bytes([member("100001", status="Suspendu"), member("100002")]), actor=actor
    )

    (lost,) = _audit(AuditEventType.REGISTRY_CLAIM_LOST)
    assert lost.subject_id == holder.id and lost.actor_kind == "user" and lost.actor_id == admin.id
    assert lost.details["registration_number"] == "100001"
    assert lost.details["import_id"] == suspended.record.id
    claim = db.session.scalar(select(ProfileClaim).where(ProfileClaim.user_id == holder.id))
    assert claim is not None and not claim.is_live

    run_import(csv_bytes([member("100001", status="Radié"), member("100002")]))
    assert len(_audit(AuditEventType.REGISTRY_CLAIM_LOST)) == 1  # suspended -> struck off

    run_import(csv_bytes([member("100001", status="inscrit"), member("100002")]))

    (restored,) = _audit(AuditEventType.REGISTRY_CLAIM_RESTORED)
    assert restored.subject_id == holder.id and restored.actor_kind == "cli"
    db.session.refresh(claim)
    assert claim.is_live


def test_registry_import_full_strike_off_loses_the_claim() -> None:
    run_import(csv_bytes([member("100001"), member("100002")]))
    holder = create_user("jf.lefevre")
    db.session.add(ProfileClaim(user_id=holder.id, registry_entry_id=entries()["100002"].id))
    db.session.commit()

    run_import(csv_bytes([member("100001")]), full=True)

    (lost,) = _audit(AuditEventType.REGISTRY_CLAIM_LOST)
    assert lost.subject_id == holder.id and lost.details["new_status"] == "radie"


def test_registry_import_records_who_when_and_the_file() -> None:
    admin = create_user("marie.conseil")
    data = csv_bytes(members(2))

    outcome = run_import(data, actor=Actor.user(admin), file_name="IDF 2026.csv")

    record = db.session.get(RegistryImport, outcome.record.id)
    assert record is not None
    assert (record.actor_kind, record.actor_id) == ("user", admin.id)
    assert record.council.code == "IDF" and record.file_name == "IDF 2026.csv"
    assert record.file_size == len(data) and len(record.file_sha256) == 64
    assert record.finished_at is not None and record.applied_at is not None
    assert record.summary["encoding"] == "utf-8" and record.summary["separator"] == ";"
    (applied,) = _audit(AuditEventType.REGISTRY_IMPORT_APPLIED)
    assert applied.subject_id is None and applied.actor_id == admin.id
    assert applied.details["council"] == "IDF" and applied.details["import_id"] == record.id
    assert applied.details["added"] == 2


def test_registry_import_fills_a_record_given_by_the_caller(app: Flask) -> None:
    from registry_import.service import import_file

    admin = create_user("marie.conseil")
    given = RegistryImport(
        council_id=entries_council_id(),
        actor_kind="user",
        actor_id=admin.id,
        file_name="upload.csv",
        file_sha256="",
    )
    db.session.add(given)
    db.session.commit()
    progress: list[int] = []

    outcome = import_file(
        db.session,
        io.BytesIO(csv_bytes(members(3))),
        file_name="upload.csv",
        council_code="IDF",
        actor=Actor.user(admin),
        record=given,
        dry_run=True,
        progress=progress.append,
    )
    db.session.commit()

    assert outcome.record is given and given.status == ImportStatus.PREVIEWED
    assert progress[-1] == 3 and given.rows_processed == 3
    assert db.session.scalar(select(func.count()).select_from(RegistryImport)) == 1


def entries_council_id() -> int:
    from idp.registry.services import council_by_code

    return council_by_code(db.session, "IDF").id


# --- headers, categories, lines ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ("N° d'inscription", "Nom", "Prénom(s)", "Date de naissance", "Email", "Catégorie"),
        ("NUMERO D'INSCRIPTION", "NOM", "PRENOMS", "DATE DE NAISSANCE", "COURRIEL", "CATEGORIE"),
        (
            " numéro  d’inscription ",
            "nom de famille",
            "Prénom",
            "Date naissance",
            "Adresse e-mail",
            "Catégorie",
        ),
        ("No inscription", "Nom", "Prénoms", "Né(e) le", "E-mail", "Qualité"),
    ],
)
def test_registry_import_reads_header_variants(header: tuple[str, ...]) -> None:
    data = csv_bytes(
        [["100001", "Lefèvre", "Jean", "12/04/1975", "jf@cabinet.fr", "EC"]], header=header
    )

    outcome = run_import(data)

    assert outcome.errors == [] and outcome.applied
    stored = entries()["100001"]
    assert (stored.family_name, stored.email, stored.category) == (
        "Lefèvre",
        "jf@cabinet.fr",
        "expert-comptable",
    )


def test_registry_import_names_ignored_columns_in_the_report() -> None:
    header = ("Téléphone", *HEADER, "Observations")
    data = csv_bytes([["01 02", *member("100001"), "RAS"]], header=header)

    outcome = run_import(data)

    assert outcome.applied and outcome.ignored_columns == ("Téléphone", "Observations")
    assert outcome.record.summary["ignored_columns"] == ["Téléphone", "Observations"]
    assert ["", "", "colonne ignorée", "", "", "", "colonne « Téléphone » ignorée"] in _report_rows(
        outcome.record.report_csv
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            ("Nom", "Prénom", "Date de naissance", "Catégorie"),
            "colonne obligatoire absente : « N° d'inscription »",
        ),
        (
            ("N°", "Nom", "Catégorie"),
            "colonnes obligatoires absentes : « Prénom(s) », « Date de naissance »",
        ),
        (
            ("N°", "Numéro d'inscription", "Nom", "Prénom", "Date de naissance", "Catégorie"),
            "les colonnes « N° » et « Numéro d'inscription »",
        ),
    ],
)
def test_registry_import_refuses_a_file_without_its_required_columns(
    header: tuple[str, ...], message: str
) -> None:
    outcome = run_import(csv_bytes([["1"] * len(header)], header=header))

    assert outcome.record.status == ImportStatus.FAILED
    assert outcome.file_error is not None and outcome.file_error.startswith(message)
    assert entries() == {}


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("Expert-comptable", "expert-comptable"),
        ("EXPERT COMPTABLE", "expert-comptable"),
        ("Experte-comptable", "expert-comptable"),
        ("EC", "expert-comptable"),
        ("Salarié AGC 83 ter", "salarie-agc"),
        ("Salarié d'AGC (83 quater)", "salarie-agc"),
        ("salarie agc art. 83 ter", "salarie-agc"),
        ("Expert-comptable stagiaire", "stagiaire"),
        ("Stagiaire", "stagiaire"),
        ("Mémorialiste", "memorialiste"),
        ("EC honoraire", "honoraire"),
        ("Expert-comptable honoraire", "honoraire"),
        ("Membre ECE", "ece"),
        ("Expert-comptable en entreprise", "ece"),
        ("Filière CAFCAC", "cafcac"),
        ("  cafcac. ", "cafcac"),
    ],
)
def test_registry_import_reads_categories_leniently(label: str, category: str) -> None:
    outcome = run_import(csv_bytes([member("100001", category=label)]))

    assert outcome.errors == [], outcome.errors
    assert entries()["100001"].category == category


@pytest.mark.parametrize("label", ["Président d'AGC", "Autre", "Expert", "Comptable agréé", "AGC"])
def test_registry_import_refuses_unknown_categories(label: str) -> None:
    outcome = run_import(csv_bytes([member("100001", category=label)]))

    assert [e.message for e in outcome.errors] == [f"catégorie inconnue (« {label} »)"]


@pytest.mark.parametrize(
    ("label", "status"),
    [
        ("Inscrit", "inscrit"),
        ("INSCRITE", "inscrit"),
        ("", "inscrit"),
        ("Suspendu", "suspendu"),
        ("Radié", "radie"),
        ("radie", "radie"),
        ("RADIÉE", "radie"),
    ],
)
def test_registry_import_reads_statuses(label: str, status: str) -> None:
    outcome = run_import(csv_bytes([member("100001", status=label)]))

    assert outcome.errors == [] and entries()["100001"].status == status


def test_registry_import_counts_physical_lines_with_a_multiline_cell() -> None:
    rows = [
        member("100001", firm="Cabinet Lefèvre\r\n12 rue de la Paix\r\nParis"),
        member("100002"),
        member("100003", birth="31/02/1980"),
        member("100004", firm="Deux\nlignes"),
        member("100005", email="pas-une-adresse"),
    ]

    outcome = run_import(csv_bytes(rows))

    # header 1; row 1 spans lines 2-4; row 2 line 5; row 3 line 6; row 4 lines 7-8; row 5 line 9
    assert [str(e) for e in outcome.errors] == [
        "ligne 6 : date de naissance impossible (31/02/1980)",
        "ligne 9 : adresse email invalide (« pas-une-adresse »)",
    ]


def test_registry_import_skips_blank_lines_but_counts_them() -> None:
    data = (
        csv_bytes([member("100001")])
        + b";;;;;;;;\r\n\r\n"
        + csv_bytes([member("100004", birth="31/02/1980")]).split(b"\r\n", 1)[1]
    )

    outcome = run_import(data)

    assert [str(e) for e in outcome.errors] == [
        "ligne 5 : date de naissance impossible (31/02/1980)"
    ]
    assert outcome.record.rows_total == 2


def test_registry_import_refuses_a_row_with_too_many_values() -> None:
    data = csv_bytes([member("100001"), [*member("100002"), "en trop"]])

    outcome = run_import(data)

    assert [str(e) for e in outcome.errors] == [
        "ligne 3 : 10 valeurs pour 9 colonnes (un séparateur dans une valeur sans guillemets ?)"
    ]


def test_registry_import_refuses_an_unterminated_quote() -> None:
    data = csv_bytes([member("100001")]) + b'100002;"Lef\xc3\xa8vre;Jean;12/04/1975;;EC;;;\r\n'

    outcome = run_import(data)

    assert outcome.record.status == ImportStatus.FAILED and outcome.file_error is not None
    assert outcome.file_error.startswith("ligne 3 : CSV mal formé")
    assert entries() == {}


def test_registry_import_reads_a_caller_stream_from_its_position() -> None:
    stream = io.BytesIO(b"junk before" + csv_bytes([member("100001")]))
    stream.seek(len(b"junk before"))

    outcome = import_file(
        db.session, stream, file_name="t.csv", council_code="idf", actor=Actor(ActorKind.CLI)
    )
    db.session.commit()

    assert outcome.applied and set(entries()) == {"100001"}
