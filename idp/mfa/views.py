"""The second-factor page ("Vérification en deux étapes"): after the password of a login that
needs it, or to step a session up for a partner site ("sécurité avancée"). ADR 0022."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idp import throttling
from idp.accounts.auth import current_session, safe_next_url
from idp.config import settings
from idp.errors import DomainError
from idp.extensions import db
from idp.mfa import factors, flow
from idp.mfa.forms import SecondFactorForm
from idp.mfa.web import bp
from idp.web_context import client_ip


@bp.route("/login/verify", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    """`next`: where a step-up goes afterwards (a pending login keeps its own); `cancel`: the
    local URL of « Annuler » (a partner site's request answers its client with an error)."""
    who = flow.verifying_user()
    if who is None:
        return redirect(url_for("accounts.login"))
    user, pending = who
    next_url = pending.next_url if pending else safe_next_url(request.args.get("next"), "")
    user_session = current_session()
    if pending is None and user_session is not None and factors.is_stepped_up(user_session):
        # Already "sécurité avancée" (a factor just enrolled, or another tab stepped up).
        return redirect(next_url or url_for("accounts.account"))
    cancel_url = safe_next_url(request.args.get("cancel"), "")
    form = SecondFactorForm()
    available = factors.factors_of(db.session, user)
    context = {
        "form": form,
        "user": user,
        "factors": available,
        "next_url": next_url,
        "cancel_url": cancel_url,
        "pending": pending is not None,
        "support_email": settings().support_email,
    }
    if form.validate_on_submit():
        try:
            methods = factors.verify_code(db.session, user, form.otp.data or "", ip=client_ip())
        except (DomainError, throttling.TooManyAttempts) as error:
            db.session.commit()  # keep the audit event of the failure
            form.form_errors.append(error.message)
            return render_template("mfa/verify.html", **context), error.status
        return flow.complete(user, methods, next_url=next_url)
    db.session.rollback()
    return render_template("mfa/verify.html", **context)
