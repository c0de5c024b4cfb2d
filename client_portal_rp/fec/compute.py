"""What an imported FEC means, computed once at import from the parsed frame (polars): the
exercice's period, the warnings, the trial balance, the indicators by month and for the
exercice, the third parties with their charges, the open items. The pages read these tables,
never the lines (ADR 0027). Amounts are integer cents throughout.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import polars as pl

from client_portal_rp.fec.formulas import FLOW_KEYS, KEYS
from client_portal_rp.fec.parser import Problem
from client_portal_rp.fec.refs import BUCKET, MAX_KEY

MAX_WARNING_LINES = 20
DEFAULT_TERMS_DAYS = 30
MAX_TERMS_DAYS = 60  # Code de commerce L441-10
LONGEST_EXERCICE_MONTHS = 24  # a first exercice may last up to 24 months

CUSTOMER_ACCOUNTS = ("411", "413", "416", "418")
SUPPLIER_ACCOUNTS = ("401", "403", "4081", "4088")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # the closing date, and the échéancier's reporting date

    @property
    def exercice(self) -> int:
        return self.end.year


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def fr_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def period_of(
    frame: pl.DataFrame,
    named_end: date | None,
    start: date | None = None,
    end: date | None = None,
) -> tuple[Period, list[str]]:
    """The exercice: given dates win; else it starts with its first entry (the à-nouveaux)
    and closes on the file name's date when that date fits the entries, else at the end of
    the month of the last entry (anonymised files carry made-up names). Notes say why."""
    notes: list[str] = []
    first: date = frame["ecriture_date"].min()  # type: ignore[assignment]
    last: date = frame["ecriture_date"].max()  # type: ignore[assignment]
    begin = start or first
    if end is None:
        if named_end and begin <= named_end <= _add_months(begin, LONGEST_EXERCICE_MONTHS):
            end = named_end
        else:
            end = _month_end(last)
            if named_end:
                notes.append(
                    f"La date de clôture du nom du fichier ({fr_date(named_end)}) ne correspond "
                    f"pas aux écritures (du {fr_date(first)} au {fr_date(last)}) : "
                    f"l'exercice est arrêté au {fr_date(end)}."
                )
    return Period(begin, end), notes


def _some_lines(frame: pl.DataFrame) -> str:
    lines = frame["line_no"].head(MAX_WARNING_LINES).to_list()
    more = "…" if frame.height > MAX_WARNING_LINES else ""
    return ", ".join(str(n) for n in lines) + more


def warnings_of(frame: pl.DataFrame, period: Period) -> tuple[list[Problem], int, int, int]:
    """(warnings, how many lines or entries they concern, entries, unbalanced entries)."""
    warnings: list[Problem] = []
    count = 0
    # Entries by a 64-bit hash of (JournalCode, EcritureNum), streamed: grouping on the two
    # texts took 200 MB more for a million lines (bench/fec.py).
    entries = (
        frame.lazy()
        .select(
            entry_key().alias("entry"),
            "line_no",
            "journal_code",
            "ecriture_num",
            (pl.col("debit") - pl.col("credit")).alias("balance"),
        )
        .group_by("entry")
        .agg(
            pl.col("line_no").min(),
            pl.col("journal_code").first(),
            pl.col("ecriture_num").first(),
            pl.col("balance").sum().alias("gap"),
        )
        .collect(engine="streaming")
    )
    unbalanced = entries.filter(pl.col("gap") != 0).sort("line_no")
    if unbalanced.height:
        count += unbalanced.height
        first_line, first_num, gap = unbalanced.select("line_no", "ecriture_num", "gap").row(0)
        warnings.append(
            Problem(
                int(first_line),
                f"{unbalanced.height} écriture(s) déséquilibrée(s) (débit ≠ crédit), la première "
                f"n° {first_num} (écart {format_cents(int(gap))} €) ; lignes "
                + _some_lines(unbalanced)
                + ".",
            )
        )
    outside = frame.filter(
        (pl.col("ecriture_date") < period.start) | (pl.col("ecriture_date") > period.end)
    ).select("line_no")
    if outside.height:
        count += outside.height
        warnings.append(
            Problem(
                int(outside["line_no"][0]),
                f"{outside.height} ligne(s) datée(s) hors de l'exercice "
                f"(du {fr_date(period.start)} au {fr_date(period.end)}) ; lignes "
                + _some_lines(outside)
                + ".",
            )
        )
    # Numbering: each journal's entries, in the order they first appear, never go back.
    numbers = entries.select(
        "line_no",
        "journal_code",
        "ecriture_num",
        pl.col("ecriture_num").str.extract(r"(\d+)$").cast(pl.Int64, strict=False).alias("n"),
    ).filter(pl.col("n").is_not_null())
    backwards = numbers.filter(
        pl.col("n") < pl.col("n").shift(1).over("journal_code", order_by="line_no")
    ).sort("line_no")
    if backwards.height:
        count += backwards.height
        warnings.append(
            Problem(
                int(backwards["line_no"][0]),
                f"Numérotation non séquentielle : {backwards.height} écriture(s) portent un "
                "numéro plus petit que l'écriture précédente du même journal ; lignes "
                + _some_lines(backwards)
                + ".",
            )
        )
    return warnings, count, entries.height, unbalanced.height


def entry_key() -> pl.Expr:
    """An entry (JournalCode, EcritureNum) as one 64-bit number."""
    return pl.struct("journal_code", "ecriture_num").hash(18)


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole},{part:02d}"


# --- indicators --------------------------------------------------------------------------


def _starts(column: str, prefixes: tuple[str, ...]) -> pl.Expr:
    return pl.any_horizontal(pl.col(column).cat.starts_with(p) for p in prefixes)


_CASH = ("511", "512", "514", "515", "517", "53", "54")


def _position_kind() -> pl.Expr:
    """Which position a class-4/5 account's balance feeds, by its number (sign decided later)."""
    acct = "compte_num"
    return (
        pl.when(pl.col(acct).cat.starts_with("519"))
        .then(pl.lit("concours_519"))
        .when(pl.col(acct).cat.starts_with("512") | pl.col(acct).cat.starts_with("5186"))
        .then(pl.lit("bank"))
        .when(_starts(acct, _CASH))
        .then(pl.lit("cash"))
        .when(_starts(acct, CUSTOMER_ACCOUNTS))
        .then(pl.lit("customer"))
        .when(_starts(acct, SUPPLIER_ACCOUNTS))
        .then(pl.lit("supplier"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _positions(balances: pl.DataFrame) -> pl.DataFrame:
    """Positions from per-account balances (one row per account and `month`)."""
    kind = pl.col("kind")
    bal = pl.col("balance")
    return balances.group_by("month").agg(
        pl.when(kind.is_in(["cash", "bank"]) & (bal > 0))
        .then(bal)
        .otherwise(0)
        .sum()
        .alias("disponibilites"),
        (
            pl.when(kind == "concours_519").then(-bal).otherwise(0)
            + pl.when((kind == "bank") & (bal < 0)).then(-bal).otherwise(0)
        )
        .sum()
        .alias("concours_bancaires"),
        pl.when((kind == "customer") & (bal > 0))
        .then(bal)
        .otherwise(0)
        .sum()
        .alias("creances_clients"),
        pl.when((kind == "supplier") & (bal < 0))
        .then(-bal)
        .otherwise(0)
        .sum()
        .alias("dettes_fournisseurs"),
    )


def indicators_of(frame: pl.DataFrame, period: Period) -> tuple[pl.DataFrame, dict[str, int]]:
    """Monthly indicators (flows of the month, positions at its end) and the exercice's."""
    first: date = min(period.start, frame["ecriture_date"].min())  # type: ignore[assignment,type-var]
    last: date = max(period.end, frame["ecriture_date"].max())  # type: ignore[assignment,type-var]
    months = pl.date_range(first.replace(day=1), last.replace(day=1), "1mo", eager=True).alias(
        "month"
    )
    # One pass over the lines: balances per account, month and side of the closing date;
    # everything else works on these few thousand rows (bench/fec.py: 0.53 s -> 0.1 s).
    lines = (
        frame.lazy()
        .group_by(
            "compte_num",
            pl.col("ecriture_date").dt.truncate("1mo").alias("month"),
            (pl.col("ecriture_date") > pl.lit(period.end)).alias("after_end"),
        )
        .agg((pl.col("debit") - pl.col("credit")).sum().alias("balance"))
        .collect(engine="streaming")
    )
    acct = pl.col("compte_num")
    flows = lines.group_by("month").agg(
        (-pl.col("balance").filter(acct.cat.starts_with("70"))).sum().alias("chiffre_affaires"),
        pl.col("balance").filter(acct.cat.starts_with("6")).sum().alias("charges"),
        (
            -pl.col("balance").filter(acct.cat.starts_with("7")).sum()
            - pl.col("balance").filter(acct.cat.starts_with("6")).sum()
        ).alias("resultat"),
    )
    classified = lines.with_columns(_position_kind().alias("kind")).filter(
        pl.col("kind").is_not_null()
    )
    per_account = classified.group_by("compte_num", "kind", "month").agg(pl.col("balance").sum())
    accounts = per_account.select("compte_num", "kind").unique()
    grid = (
        accounts.join(months.to_frame(), how="cross")
        .join(per_account, on=["compte_num", "kind", "month"], how="left")
        .with_columns(pl.col("balance").fill_null(0))
        .sort("compte_num", "month")
        .with_columns(pl.col("balance").cum_sum().over("compte_num"))
    )
    positions = _positions(grid) if grid.height else pl.DataFrame({"month": months})
    table = (
        months.to_frame()
        .join(flows, on="month", how="left")
        .join(positions, on="month", how="left")
        .with_columns([pl.col(k).fill_null(0).cast(pl.Int64) for k in KEYS])
        .select("month", *KEYS)
        .sort("month")
    )
    totals = {k: int(table[k].sum()) for k in FLOW_KEYS}
    end_balances = (
        classified.filter(~pl.col("after_end"))
        .group_by("compte_num", "kind")
        .agg(pl.col("balance").sum())
        .with_columns(pl.lit(period.end).alias("month"))
    )
    end_positions = _positions(end_balances) if end_balances.height else None
    for key in KEYS:
        if key in FLOW_KEYS:
            continue
        totals[key] = (
            int(end_positions[key][0]) if end_positions is not None and end_positions.height else 0
        )
    return table, totals


# --- third parties, open items ------------------------------------------------------------


def with_party(frame: pl.DataFrame) -> pl.DataFrame:
    """The lines with their `party`: CompAuxNum, else CompteNum."""
    return frame.with_columns(
        pl.when(pl.col("comp_aux_num") != "")
        .then(pl.col("comp_aux_num"))
        .otherwise(pl.col("compte_num"))
        .alias("party")
    )


def accounts_of(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.lazy()
        .group_by("compte_num")
        .agg(
            pl.col("compte_lib")
            .filter(pl.col("compte_lib") != "")
            .first()
            .fill_null("")
            .alias("compte_lib"),
            pl.col("debit").sum(),
            pl.col("credit").sum(),
        )
        .with_columns(
            pl.col("compte_num").cast(pl.String),
            pl.col("compte_lib").cast(pl.String).str.slice(0, 300),
        )
        .sort("compte_num")
        .collect(engine="streaming")
    )


def _role() -> pl.Expr:
    return (
        pl.when(pl.col("compte_num").cat.starts_with("40"))
        .then(pl.lit("fournisseur"))
        .when(pl.col("compte_num").cat.starts_with("41"))
        .then(pl.lit("client"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def parties_of(lines: pl.DataFrame) -> pl.DataFrame:
    """Suppliers and customers (40x/41x lines' parties) with their balance, and what class-6
    lines booked against them: an entry's charges go to its first 40x line's party, or, in an
    entry without one, to each 6x account itself (role « compte»). Lazy and streamed."""
    lazy = lines.lazy().with_columns(entry_key().alias("entry"))
    third = lazy.with_columns(_role().alias("role")).filter(pl.col("role").is_not_null())
    label = (
        pl.when(pl.col("comp_aux_lib") != "")
        .then(pl.col("comp_aux_lib"))
        .otherwise(pl.col("compte_lib"))
    )
    people = third.group_by("party").agg(
        label.filter(label != "").first().fill_null("").alias("label"),
        pl.col("role").first(),
        (pl.col("debit") - pl.col("credit")).sum().alias("balance"),
    )
    people = people.with_columns(pl.col("party").cast(pl.String))
    supplier_of_entry = (
        third.filter(pl.col("role") == "fournisseur")
        .group_by("entry")
        .agg(pl.col("party").sort_by("line_no").first().alias("supplier"))
    )
    charges = lazy.filter(pl.col("compte_num").cat.starts_with("6")).join(
        supplier_of_entry, on="entry", how="left"
    )
    by_supplier = (
        charges.filter(pl.col("supplier").is_not_null())
        .group_by("supplier")
        .agg(
            (pl.col("debit") - pl.col("credit")).sum().alias("charges"),
            pl.col("entry").n_unique().cast(pl.Int64).alias("entry_count"),
        )
        .rename({"supplier": "party"})
        .with_columns(pl.col("party").cast(pl.String))
    )
    by_account = (
        charges.filter(pl.col("supplier").is_null())
        .group_by("compte_num")
        .agg(
            pl.col("compte_lib")
            .filter(pl.col("compte_lib") != "")
            .first()
            .fill_null("")
            .alias("label"),
            (pl.col("debit") - pl.col("credit")).sum().alias("charges"),
            pl.col("entry").n_unique().cast(pl.Int64).alias("entry_count"),
            (pl.col("debit") - pl.col("credit")).sum().alias("balance"),
        )
        .rename({"compte_num": "party"})
        .with_columns(pl.col("party").cast(pl.String))
        .with_columns(pl.lit("compte").alias("role"))
    )
    # An account party that is also a supplier/customer party (same string) stays the latter.
    by_account = by_account.join(people.select("party"), on="party", how="anti")
    merged = (
        people.join(by_supplier, on="party", how="left")
        .with_columns(pl.col("charges").fill_null(0), pl.col("entry_count").fill_null(0))
        .select("party", "label", "role", "charges", "entry_count", "balance")
    )
    return (
        pl.concat(
            [merged, by_account.select(merged.collect_schema().names())], how="vertical_relaxed"
        )
        .with_columns(
            pl.col("label").cast(pl.String).str.slice(0, 300),
            pl.col("party").cast(pl.String).str.slice(0, 60),
            pl.col("charges").cast(pl.Int64),
            pl.col("entry_count").cast(pl.Int64),
            pl.col("balance").cast(pl.Int64),
        )
        .unique(subset="party", keep="first", maintain_order=True)
        .collect(engine="streaming")
    )


def open_items_of(lines: pl.DataFrame, period: Period, terms_days: int) -> pl.DataFrame:
    """Customer and supplier lines not lettered at the reporting date (the period's end)."""
    account = "compte_num"
    side = (
        pl.when(_starts(account, CUSTOMER_ACCOUNTS))
        .then(pl.lit("client"))
        .when(_starts(account, SUPPLIER_ACCOUNTS))
        .then(pl.lit("fournisseur"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    open_ = (pl.col("ecriture_let") == "") | (
        pl.col("date_let").is_not_null() & (pl.col("date_let") > pl.lit(period.end))
    )
    items = (
        lines.with_columns(side.alias("side"))
        .filter(
            pl.col("side").is_not_null() & open_ & (pl.col("ecriture_date") <= pl.lit(period.end))
        )
        .select(
            "side",
            pl.col("party").cast(pl.String).str.slice(0, 60),
            "line_no",
            pl.col("compte_num").cast(pl.String),
            pl.col("piece_ref").str.slice(0, 100),
            pl.coalesce("piece_date", "ecriture_date").alias("piece_date"),
            pl.col("ecriture_lib").alias("label"),
            pl.when(pl.col("side") == "client")
            .then(pl.col("debit") - pl.col("credit"))
            .otherwise(pl.col("credit") - pl.col("debit"))
            .alias("amount"),
        )
    )
    return items.with_columns(
        piece_key_of(pl.col("piece_ref")).alias("piece_key"),
        (pl.col("piece_date") + pl.duration(days=terms_days)).alias("due_date"),
        pl.lit("delai").alias("due_source"),
    ).sort("line_no")


def piece_key_of(reference: pl.Expr) -> pl.Expr:
    """`refs.piece_key` for a column: NFKD, what is not ASCII dropped, upper case, letters and
    digits only, 100 characters (test_compute compares the two on awkward references)."""
    return (
        reference.str.normalize("NFKD")
        .str.replace_all(r"[^\x00-\x7F]+", "")
        .str.to_uppercase()
        .str.replace_all(r"[^0-9A-Z]+", "")
        .str.slice(0, MAX_KEY)
    )


def pieces_of(frame: pl.DataFrame) -> pl.DataFrame:
    """The distinct piece keys of the lines in their buckets (`fec_pieces`: `bucket`, `keys`
    as « KEY1 KEY2 »), a reference with no key left out."""
    key = pl.col("piece_key")
    return (
        frame.lazy()
        .select(pl.col("piece_ref").cast(pl.String).unique())
        .select(piece_key_of(pl.col("piece_ref")).alias("piece_key"))
        .filter(key != "")
        .unique()
        .group_by(key.str.slice(-BUCKET).alias("bucket"))
        .agg(key.sort().str.join(" "))
        .select("bucket", pl.concat_str(pl.lit(" "), key, pl.lit(" ")).alias("keys"))
        .collect(engine="streaming")
    )


# --- the drill-down's lines -----------------------------------------------------------------

BLOCK_LINES = 100
# A block's lines are records of fields (the FEC's own texts never hold these two controls; any
# that would are replaced by a space): fec/lines.py splits them back.
FIELD = "\x1f"
RECORD = "\x1e"
LINE_FIELDS = (
    "line_no",
    "journal_code",
    "ecriture_num",
    "ecriture_date",
    "compte_num",
    "piece_ref",
    "piece_date",
    "ecriture_lib",
    "debit",
    "credit",
    "ecriture_let",
    "date_let",
)


def line_blocks(lines: pl.DataFrame, parties: pl.DataFrame) -> pl.DataFrame:
    """The lines the drill-down reaches (40x/41x lines, and the lines of the 6x accounts that
    are parties themselves), by party in date order, `BLOCK_LINES` per block, each block a
    string of records (`RECORD`) of `LINE_FIELDS` (separated by `FIELD`): building it is a
    string concatenation, where JSON encoding took twice the time and memory."""
    accounts = parties.filter(pl.col("role") == "compte").select(
        pl.col("party").cast(pl.Categorical)
    )
    # In BLOCK_PARTS batches of parties (by the party's categorical code): each filters, sorts
    # and encodes a part of the lines, so the temporary copies are a part too (bench/fec.py:
    # -80 MB; filtering the wanted lines once instead saved 0.2 s but cost 50 MB).
    return pl.concat(
        [_blocks_of_part(lines, accounts, part) for part in range(BLOCK_PARTS)],
        how="vertical",
    )


BLOCK_PARTS = 8


def _blocks_of_part(lines: pl.DataFrame, accounts: pl.DataFrame, part: int) -> pl.DataFrame:
    third = pl.col("compte_num").cat.starts_with("40") | pl.col("compte_num").cat.starts_with("41")
    lazy = lines.lazy().filter(pl.col("party").to_physical() % BLOCK_PARTS == part)
    wanted = pl.concat(
        [
            lazy.filter(third),
            lazy.filter(~third).join(accounts.lazy(), on="party", how="semi"),
        ]
    )
    ordered = wanted.sort("party", "ecriture_date", "line_no").with_columns(
        (pl.int_range(pl.len()).over("party") // BLOCK_LINES).cast(pl.Int64).alias("block")
    )

    def text(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.String).str.replace_all(r"[\x1e\x1f]", " ")

    def day(column: str) -> pl.Expr:
        return pl.col(column).dt.to_string("%Y-%m-%d").fill_null("")

    encoded = ordered.select(
        pl.col("party").cast(pl.String).str.slice(0, 60),
        "block",
        pl.concat_str(
            [
                pl.col("line_no").cast(pl.String),
                text("journal_code"),
                text("ecriture_num"),
                day("ecriture_date"),
                text("compte_num"),
                text("piece_ref"),
                day("piece_date"),
                text("ecriture_lib"),
                pl.col("debit").cast(pl.String),
                pl.col("credit").cast(pl.String),
                text("ecriture_let"),
                day("date_let"),
            ],
            separator=FIELD,
        ).alias("line"),
    )
    return (
        encoded.group_by("party", "block", maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("line").str.join(RECORD).alias("data"),
        )
        .collect(engine="streaming")
    )
