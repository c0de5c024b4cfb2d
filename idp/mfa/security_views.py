"""« Sécurité avancée » on « Mon compte »: TOTP enrolment, recovery codes, "always ask", and
« Confirmez votre identité » (recent authentication). ADR 0022.

Placeholder routes (the endpoints other modules name); the pages come with the TOTP work.
"""

from __future__ import annotations

from flask import abort
from flask.typing import ResponseReturnValue

from idp.accounts.auth import login_required
from idp.mfa.web import bp


@bp.get("/account/security")
@login_required
def security() -> ResponseReturnValue:
    abort(404)


@bp.route("/account/confirm", methods=["GET", "POST"])
@login_required
def confirm_identity() -> ResponseReturnValue:
    abort(404)
