"""One writer of a company's FEC books at a time (docs/adr/0027-fec-indicators.md).

An import writes the company's open items and applies the e-invoices already deposited; a
deposit of an e-invoice writes its due date onto the open items already imported. Run side by
side under READ COMMITTED, each misses what the other has not committed yet, and the invoice's
due date is lost from the new import. Both take this lock first, for the rest of their
transaction: on PostgreSQL a transaction-level advisory lock on the company; SQLite needs
none, its single writer holds the database until it commits.
"""

from __future__ import annotations

from sqlalchemy import text

from client_portal_rp.extensions import db

# The advisory lock's first key: this lock's space ("FEC" in ASCII), the company id the second.
_LOCK_SPACE = 0x464543


def lock_books(company_id: int) -> None:
    """Wait until no other transaction writes this company's books; hold them until commit or
    rollback. Taking it again in the same transaction is free."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :company)"),
            {"space": _LOCK_SPACE, "company": company_id},
        )
