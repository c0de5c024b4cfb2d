"""The real FEC samples (`SESAME_FEC_SAMPLES`, else ../shared/data/fec/ beside the project:
never copied into it) and small files written by the tests for each variant and error. A
missing sample skips the test on a laptop and fails it in CI (REQUIRE_SERVICES=1)."""

from __future__ import annotations

import io
from pathlib import Path

from client_portal_rp.demo import fec_samples_dir
from tests.helpers import service_missing

FEC_DIR = fec_samples_dir()
SAMPLES = (
    "0000000001FEC20220831.txt",
    "000000000FEC20231231.txt",
    "111111111FEC20221231.TXT",
    "123456789FEC20500930.txt",
    "911289502FEC20500930.txt",
)

HEADER = (
    "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\t"
    "CompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\t"
    "ValidDate\tMontantdevise\tIdevise"
)


def sample(name: str) -> Path:
    path = FEC_DIR / name
    if not path.exists():
        service_missing(f"FEC sample {path} absent (SESAME_FEC_SAMPLES or ../shared/data/fec/)")
    return path


def line(
    journal: str = "VT",
    num: str = "1",
    day: str = "20250115",
    account: str = "411000",
    label: str = "Clients",
    aux: str = "",
    aux_label: str = "",
    piece: str = "F1",
    piece_day: str = "20250115",
    text: str = "Facture",
    debit: str = "0,00",
    credit: str = "0,00",
    let: str = "",
    date_let: str = "",
) -> str:
    fields = [
        journal,
        "Ventes",
        num,
        day,
        account,
        label,
        aux,
        aux_label,
        piece,
        piece_day,
        text,
        debit,
        credit,
        let,
        date_let,
        day,
        "",
        "",
    ]
    return "\t".join(fields)


def sale(num: str, day: str, amount: str, *, customer: str = "C001", let: str = "") -> list[str]:
    """A balanced sale: customer debit, revenue credit."""
    return [
        line(
            num=num,
            day=day,
            account="411000",
            aux=customer,
            aux_label="Client " + customer,
            piece="F" + num,
            piece_day=day,
            debit=amount,
            let=let,
        ),
        line(
            num=num,
            day=day,
            account="706000",
            label="Prestations",
            piece="F" + num,
            piece_day=day,
            credit=amount,
        ),
    ]


def fec_bytes(
    lines: list[str], *, header: str = HEADER, newline: str = "\n", encoding: str = "utf-8"
) -> bytes:
    return (newline.join([header, *lines]) + newline).encode(encoding)


def stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
