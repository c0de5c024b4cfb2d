"""The échéancier and drill-down pages: what they show (amounts in French, buckets,
reconciliation), the path supplier → entries → piece reference → deposited document downloaded
with the compta module alone, tenant isolation (SECURITY.md 46), rights (47), exports, and a
French message for every bad argument."""

from __future__ import annotations

import html
import io
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Deposit, FecImport, Module, PortalUser
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, sign_in
from tests.client_portal_rp.fec.drill_factories import (
    add_line,
    add_open_item,
    add_party,
    make_piece_deposit,
    seed_books,
)

NNBSP = "\u202f"


@dataclass
class Books:
    company: Company
    fec_import: FecImport
    user: PortalUser
    deposit: Deposit


def base(company: Company, tail: str) -> str:
    return f"/entreprises/{company.public_id}/compta/{tail}"


def ok(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    return response.get_data(as_text=True)


@pytest.fixture
def books(portal_app: Flask, portal_client: FlaskClient) -> Books:
    company = make_company(make_firm(), name="Boulangerie Martin")
    fec_import = seed_books(company)
    deposit = make_piece_deposit(company, "ve-0123", filename="orange-mars.pdf")
    user = make_member(company, modules={Module.COMPTA})  # no deposit module
    sign_in(portal_client, portal_app, user, advanced=True)
    return Books(company, fec_import, user, deposit)


# --- what the pages show -----------------------------------------------------------------


def test_schedule_shows_buckets_parties_and_the_reconciliation_gap(
    portal_client: FlaskClient, books: Books
) -> None:
    response = portal_client.get(base(books.company, "echeancier?exercice=2050&cote=clients"))
    assert response.status_code == 200
    assert response.headers["X-Portail-Hors-Ligne"] == "non"  # compta: « sécurité avancée »
    page = response.get_data(as_text=True)
    assert "Échéancier clients" in page and "30/09/2050" in page
    assert "Dupont SA" in page
    assert f"1{NNBSP}500,00\u00a0€" in page  # 31-60 days
    assert f"1{NNBSP}700,00\u00a0€" in page  # total
    assert f"1{NNBSP}800,00\u00a0€" in page  # accounts' balance
    assert "100,00\u00a0€" in page and "Écart\u00a0: lettrage incomplet" in page
    assert (
        f"/entreprises/{books.company.public_id}/compta/echeancier/tiers?exercice=2050"
        f"&amp;cote=clients&amp;tiers=C%20DUPONT" in page
    )
    suppliers = ok(portal_client, base(books.company, "echeancier?cote=fournisseurs"))
    assert "Orange Business" in suppliers and "Dupont SA" not in suppliers
    assert "correspondent au solde des comptes" in suppliers


def test_party_items_show_due_dates_with_their_source_and_days_late(
    portal_client: FlaskClient, books: Books
) -> None:
    page = ok(portal_client, base(books.company, "echeancier/tiers?cote=clients&tiers=C+DUPONT"))
    assert "VE 7" in page and "16/08/2050" in page and "45 jours" in page
    assert "délai de paiement" in page and "Non échu" in page
    assert "pieces?exercice=2050&amp;tiers=C+DUPONT&amp;ref=VE%207" in page


def test_a_payment_not_lettered_has_its_column_and_no_due_date_nor_days_late(
    portal_client: FlaskClient, books: Books
) -> None:
    """A supplier payment of −6,000.00 whose piece date + terms fell 133 days before the
    reporting date: never « 133 jours », its own column, in the total; negative amounts are
    written with the minus sign U+2212 on the pages, a plain « - » number in the exports."""
    add_open_item(
        books.fec_import,
        "F/ORANGE 1",
        -600_000,
        date(2050, 9, 30) - timedelta(days=133),
        side="fournisseur",
        piece_ref="BQ 12",
        piece_date=date(2050, 4, 20),  # + 30 days of terms: due 20/05/2050, stored
    )
    page = ok(portal_client, base(books.company, "echeancier?cote=fournisseurs"))
    assert "Règlements et avoirs non lettrés" in page
    assert f"\u22126{NNBSP}000,00\u00a0€" in page
    assert f"\u22125{NNBSP}400,00\u00a0€" in page  # the total: 600.00 over 90 days − 6,000.00
    # No hyphen-minus before an amount (tokens and ids in the page may hold "-6" by chance).
    assert f"-6{NNBSP}000" not in page and f"-5{NNBSP}400" not in page
    # The party's row: « Dont échu » is the late buckets alone (the phone's card shows it).
    overdue_cell = 'data-label="Dont échu" class="fec-overdue">600,00\u00a0€</td>'
    assert overdue_cell in page
    # The card also shows the unlettered column when it holds something, so « dont échu »
    # (600.00) above a total of −5,400.00 explains itself; empty, it stays for screen readers.
    orange = page[page.index("Orange Business") :].split("</tr>")[0]
    assert 'class="fec-unapplied">\u22126\u202f000,00\u00a0€</td>' in orange
    assert orange.count('class="fec-bucket"') == 5

    items = ok(
        portal_client, base(books.company, "echeancier/tiers?cote=fournisseurs&tiers=F/ORANGE+1")
    )
    row = items[items.index("BQ 12") :].split("</tr>")[0]
    assert "Règlement ou avoir non lettré" in row and "Sans échéance" in row
    assert "jours" not in row and "délai de paiement" not in row
    assert "20/04/2050" in row and "20/05/2050" not in row  # the stored due date is not shown

    listing = portal_client.get(
        base(books.company, "echeancier?cote=fournisseurs&format=csv")
    ).data.decode("utf-8-sig")
    assert "F/ORANGE 1;Orange Business;0,00;0,00;0,00;0,00;600,00;-6000,00;-5400,00" in listing
    exported = portal_client.get(
        base(books.company, "echeancier/tiers?cote=fournisseurs&tiers=F/ORANGE+1&format=csv")
    ).data.decode("utf-8-sig")
    assert "BQ 12;20/04/2050;;;-6000,00;" in exported
    sheet = portal_client.get(base(books.company, "echeancier?cote=fournisseurs&format=xlsx")).data
    with zipfile.ZipFile(io.BytesIO(sheet)) as archive:
        assert "<v>-6000</v>" in archive.read("xl/worksheets/sheet1.xml").decode()


def test_supplier_to_entries_to_piece_to_download_with_the_compta_module_alone(
    portal_client: FlaskClient, books: Books
) -> None:
    charges = ok(portal_client, base(books.company, "charges?exercice=2050"))
    assert charges.index("Orange Business") < charges.index("Fournitures non stockables")
    assert "92,5\u00a0%" in charges  # 1,234,567 of 1,334,567
    assert "sans fournisseur" in charges
    assert "tiers?exercice=2050&amp;tiers=F/ORANGE%201" in charges  # a slash is valid in a query

    entries = ok(portal_client, base(books.company, "tiers?exercice=2050&tiers=F%2FORANGE+1"))
    assert entries.index("15/01/2050") < entries.index("02/03/2050")  # by date
    assert f"12{NNBSP}345,67\u00a0€" in entries and "Abonnement mars" in entries
    assert "AB" in entries and "01/04/2050" in entries
    assert "&amp;ref=VE%20%200123" in entries  # the reference as the FEC writes it

    piece = ok(portal_client, base(books.company, "pieces?exercice=2050&ref=VE++0123"))
    assert "Récupérez la pièce comptable" in piece and "orange-mars.pdf" in piece
    download = (
        f"/entreprises/{books.company.public_id}/compta/pieces/{books.deposit.public_id}/fichier"
    )
    assert download in piece
    response = portal_client.get(download)
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF-1.4")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The deposit module's own URL stays closed to this person.
    own = f"/entreprises/{books.company.public_id}/depots/{books.deposit.public_id}/fichier"
    assert portal_client.get(own).status_code == 403


def test_a_reference_nobody_deposited_says_so(portal_client: FlaskClient, books: Books) -> None:
    page = ok(portal_client, base(books.company, "pieces?ref=AC+44"))
    assert "Aucun document déposé ne porte la référence «\u00a0AC 44\u00a0»" in page
    assert "Déposer la pièce" not in page  # no deposit module


# --- tenant isolation (SECURITY.md 46) and rights (47) -----------------------------------


def test_another_companys_deposit_with_the_same_piece_key_never_shows(
    portal_client: FlaskClient, books: Books
) -> None:
    other = make_company(make_firm(), name="Concurrent SARL")
    theirs = make_piece_deposit(other, "VE-0123", filename="secret-concurrent.pdf")
    seed_books(other)
    page = ok(portal_client, base(books.company, "pieces?ref=VE0123"))
    assert "orange-mars.pdf" in page and "secret-concurrent.pdf" not in page
    assert theirs.public_id not in page
    # Their deposit's id under our company's URL, and their company's URL: 404.
    assert (
        portal_client.get(base(books.company, f"pieces/{theirs.public_id}/fichier")).status_code
        == 404
    )
    for tail in (
        "echeancier",
        "charges",
        "tiers?tiers=C+DUPONT",
        "pieces?ref=VE0123",
        f"pieces/{theirs.public_id}/fichier",
    ):
        assert portal_client.get(base(other, tail)).status_code == 404, tail


def test_a_deposit_under_a_reference_the_books_do_not_carry_is_not_served(
    portal_client: FlaskClient, books: Books
) -> None:
    """The compta module opens the pieces of the entries: a deposit whose reference no
    imported entry carries (a document of the deposit module) is neither listed nor served."""
    unbooked = make_piece_deposit(books.company, "NDF-2050-09", filename="note-de-frais.pdf")
    page = ok(portal_client, base(books.company, "pieces?ref=NDF-2050-09"))
    assert "note-de-frais.pdf" not in page and unbooked.public_id not in page
    assert (
        "Aucune écriture de votre comptabilité importée ne porte la référence "
        "«\u00a0NDF-2050-09\u00a0»" in page
    )
    assert (
        portal_client.get(base(books.company, f"pieces/{unbooked.public_id}/fichier")).status_code
        == 404
    )


def test_a_deposit_without_piece_reference_is_not_served_by_the_drilldown(
    portal_client: FlaskClient, books: Books
) -> None:
    plain = make_piece_deposit(books.company, "", filename="releve.pdf")
    assert (
        portal_client.get(base(books.company, f"pieces/{plain.public_id}/fichier")).status_code
        == 404
    )


def test_without_the_compta_module_every_page_is_refused(
    portal_app: Flask, portal_client: FlaskClient, books: Books
) -> None:
    depositor = make_member(books.company, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, depositor, advanced=True)
    from tests.client_portal_rp.test_deposits import switch_user

    switch_user()
    for tail in (
        "echeancier",
        "echeancier/tiers?tiers=C+DUPONT",
        "charges",
        "tiers?tiers=F%2FORANGE+1",
        "pieces?ref=VE0123",
        f"pieces/{books.deposit.public_id}/fichier",
        "charges?format=csv",
    ):
        response = portal_client.get(base(books.company, tail))
        assert response.status_code == 403, tail
        assert "ne comprend pas le module" in response.get_data(as_text=True)


def test_a_password_only_login_is_sent_to_step_up(
    portal_app: Flask, portal_client: FlaskClient, books: Books
) -> None:
    sign_in(portal_client, portal_app, books.user, advanced=False)
    response = portal_client.get(base(books.company, "charges"))
    assert response.status_code == 303 and "level=advanced" in response.headers["Location"]


# --- exports -----------------------------------------------------------------------------


def test_tables_export_as_csv_for_french_excel(portal_client: FlaskClient, books: Books) -> None:
    response = portal_client.get(base(books.company, "echeancier?cote=clients&format=csv"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "echeancier-clients" in response.headers["Content-Disposition"]
    text = response.data.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == (
        "Compte;Tiers;Non échu;1 à 30 jours;31 à 60 jours;61 à 90 jours;Plus de 90 jours;"
        "Règlements et avoirs non lettrés;Total"
    )
    assert lines[1] == "C DUPONT;Dupont SA;200,00;0,00;1500,00;0,00;0,00;0,00;1700,00"
    assert lines[2] == ";Total;200,00;0,00;1500,00;0,00;0,00;0,00;1700,00"

    charges = portal_client.get(base(books.company, "charges?format=csv")).data.decode("utf-8-sig")
    assert "F/ORANGE 1;Orange Business;12345,67;92,5;2" in charges
    entries = portal_client.get(
        base(books.company, "tiers?tiers=F%2FORANGE+1&format=csv")
    ).data.decode("utf-8-sig")
    assert "02/03/2050;AC;" in entries and ";VE  0123;Abonnement mars;0,00;12345,67;AB" in entries
    items = portal_client.get(
        base(books.company, "echeancier/tiers?cote=clients&tiers=C+DUPONT&format=csv")
    ).data.decode("utf-8-sig")
    assert "VE 7;16/08/2050;16/08/2050;délai de paiement;1500,00;45" in items


def test_a_label_that_looks_like_a_formula_is_exported_as_text(
    portal_client: FlaskClient, books: Books
) -> None:
    add_party(books.fec_import, "F-EVIL", '=HYPERLINK("http://x","y")', charges=1)
    text = portal_client.get(base(books.company, "charges?format=csv")).data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text


def test_tables_export_as_xlsx(portal_client: FlaskClient, books: Books) -> None:
    response = portal_client.get(base(books.company, "charges?exercice=2050&format=xlsx"))
    assert response.status_code == 200
    assert str(response.mimetype).endswith("spreadsheetml.sheet")
    assert ".xlsx" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        strings = archive.read("xl/sharedStrings.xml").decode()
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "Orange Business" in strings and "Part des charges" in strings
    assert "<v>12345.67</v>" in sheet


# --- bad arguments: French messages, never a 500 -----------------------------------------


@pytest.mark.parametrize(
    ("tail", "status", "message"),
    [
        ("echeancier?exercice=20x0", 400, "année sur quatre chiffres"),
        ("echeancier?exercice=2099", 404, "pour l'exercice 2099"),
        ("echeancier?cote=banques", 400, "«\u00a0clients\u00a0» ou «\u00a0fournisseurs\u00a0»"),
        ("echeancier?cursor=%00%FF", 400, "reprenez la liste au début"),
        ("charges?cursor=WyJhIiwiYiJd", 400, "reprenez la liste au début"),
        ("tiers?cursor=abc&tiers=F%2FORANGE+1", 400, "reprenez la liste au début"),
        ("charges?format=pdf", 400, "«\u00a0csv\u00a0» ou «\u00a0xlsx\u00a0»"),
        ("tiers", 400, "Choisissez un tiers"),
        ("tiers?tiers=" + "X" * 61, 400, "Choisissez un tiers"),
        ("tiers?tiers=NOBODY", 404, "n'a aucune écriture"),
        ("echeancier/tiers?tiers=NOBODY", 404, "aucune pièce ouverte"),
        ("pieces", 400, "Indiquez la référence"),
        ("pieces?ref=" + "A" * 101, 400, "Indiquez la référence"),
    ],
)
def test_bad_arguments_get_a_french_message(
    portal_client: FlaskClient, books: Books, tail: str, status: int, message: str
) -> None:
    response: TestResponse = portal_client.get(base(books.company, tail))
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert message in html.unescape(response.get_data(as_text=True))


def test_without_any_fec_the_pages_say_the_firm_has_not_published_one(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    sign_in(portal_client, portal_app, make_member(company, modules={Module.COMPTA}), advanced=True)
    for tail in ("echeancier", "charges", "tiers?tiers=X", "pieces?ref=A1"):
        page = ok(portal_client, base(company, tail))
        assert "pas encore publié de FEC" in page, tail


def test_pages_follow_the_next_cursor(portal_client: FlaskClient, books: Books) -> None:
    for n in range(55):
        add_line(
            books.fec_import,
            "BULK",
            date(2050, 1, 1) + timedelta(days=n),
            debit=n + 1,
            commit=False,
        )
    db.session.commit()
    first = ok(portal_client, base(books.company, "tiers?tiers=BULK"))
    assert "01/01/2050" in first and "20/02/2050" not in first
    assert "Suivants" in first
    import re

    cursor = re.search(r'cursor=([^"&]+)', first)
    assert cursor
    second = ok(portal_client, base(books.company, f"tiers?tiers=BULK&cursor={cursor.group(1)}"))
    assert "20/02/2050" in second and "01/01/2050" not in second
    assert "Revenir au début" in second and "Suivants" not in second
    assert "55 lignes" in first and "55 lignes" in second


# --- the real sample, through the importer -----------------------------------------------


def test_sample_schedules_match_domain_and_a_supplier_leads_to_its_deposited_invoice(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    """123456789FEC20500930.txt: open items add up to DOMAIN.md's créances clients
    (128,200.50) and dettes fournisseurs (154,890.59), each equal to its accounts' balance;
    CHB's first entry's piece, deposited with the reference typed otherwise, downloads."""
    from client_portal_rp.fec.importer import import_path
    from tests.client_portal_rp.fec.support import sample

    company = Company(firm=make_firm(), name="Société Exemple", siren="123456789")
    db.session.add(company)
    db.session.commit()
    report = import_path(company, sample("123456789FEC20500930.txt"))
    assert not report.errors and report.fec_import is not None
    fec_import = report.fec_import
    exercice = fec_import.exercice
    sign_in(portal_client, portal_app, make_member(company, modules={Module.COMPTA}), advanced=True)

    clients = ok(portal_client, base(company, f"echeancier?exercice={exercice}&cote=clients"))
    assert f"128{NNBSP}200,50\u00a0€" in clients
    assert "correspondent au solde des comptes" in clients
    suppliers = ok(
        portal_client, base(company, f"echeancier?exercice={exercice}&cote=fournisseurs")
    )
    assert f"154{NNBSP}890,59\u00a0€" in suppliers and "FERME DE JEANSARTHE" in suppliers
    assert "correspondent au solde des comptes" in suppliers
    # Payments and credit notes not lettered: their own column, never aged, in the totals.
    from sqlalchemy import func, select

    from client_portal_rp.fec import schedules
    from client_portal_rp.fec.schedules import OVERDUE, Bucket, Side
    from client_portal_rp.models import FecOpenItem

    for side, total in ((Side.CLIENTS, 12_820_050), (Side.FOURNISSEURS, 15_489_059)):
        found = schedules.schedule(fec_import, side)
        assert found.totals.total == total and found.reconciliation.difference == 0
        negative, positive = (
            int(
                db.session.scalar(
                    select(func.coalesce(func.sum(FecOpenItem.amount), 0)).where(
                        FecOpenItem.import_id == fec_import.id,
                        FecOpenItem.side == side.stored,
                        sign,
                    )
                )
                or 0
            )
            for sign in (FecOpenItem.amount < 0, FecOpenItem.amount >= 0)
        )
        assert found.totals.buckets[Bucket.CREDITS] == negative
        aged = found.totals.buckets[Bucket.NOT_DUE] + sum(found.totals.buckets[b] for b in OVERDUE)
        assert aged == positive and found.totals.overdue >= 0
    assert negative < 0  # the sample's suppliers have payments not lettered

    charges = ok(portal_client, base(company, f"charges?exercice={exercice}"))
    assert f"1{NNBSP}110{NNBSP}816,48\u00a0€" in charges  # class 6 (the indicators' charges)
    assert "CHB" in charges and "tiers=FCHB" in charges

    from client_portal_rp.fec import drilldown

    first = drilldown.party_entries(fec_import, "FCHB", limit=1).items[0]
    deposit = make_piece_deposit(company, f" {first.piece_ref.lower()} ", filename="chb.pdf")
    entries = ok(portal_client, base(company, f"tiers?exercice={exercice}&tiers=FCHB"))
    assert first.piece_ref in entries
    piece = ok(portal_client, base(company, f"pieces?exercice={exercice}&ref={first.piece_ref}"))
    assert "chb.pdf" in piece
    response = portal_client.get(base(company, f"pieces/{deposit.public_id}/fichier"))
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
