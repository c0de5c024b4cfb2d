"""Who may see what: every company page goes through `company_view`, every firm page through
`firm_view` (SECURITY.md 46-48).

- Tenant isolation: a company is found by its unguessable `public_id` AND the person's access to
  it (a membership, or staff of its firm); anything else is a 404, the same answer as an id that
  does not exist. Objects inside a company (deposits, archives, users) are then looked up with
  the company's id in the query (`one_of_company`), never by their own id alone.
- Module rights are checked on every request, from the database (a right removed a second ago is
  gone on the next request, sessions already open included: SECURITY.md 51).
- "Sécurité avancée": a module the company marks advanced needs a login whose ID token carries
  the MFA level; otherwise a page (GET) sends the browser to Sésame for step-up
  (`acr_values`), and any other method is refused with a page that says why.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from client_portal_rp.accounts import current_user
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Firm, FirmStaff, Membership, Module, PortalUser, Role
from relying_party import current_login

T = TypeVar("T")
ALL_MODULES = frozenset(Module)


@dataclass(frozen=True)
class Access:
    """A person's access to one company, for this request."""

    user: PortalUser
    company: Company
    role: str  # "staff" (the firm's), "admin" or "user" (the company's)
    modules: frozenset[Module]
    membership: Membership | None

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    @property
    def can_manage_accesses(self) -> bool:
        """« Administrez vos accès »: the company's admins and the firm's staff."""
        return self.role in ("staff", Role.ADMIN.value)

    def has(self, module: Module) -> bool:
        return module in self.modules


@dataclass(frozen=True)
class FirmAccess:
    user: PortalUser
    firm: Firm


def login_redirect(*, advanced: bool = False) -> Response:
    args = {"next": request.full_path if request.query_string else request.path}
    if advanced:
        args["level"] = "advanced"
    return redirect(f"{url_for('sso.login')}?{urlencode(args)}", code=303)


def staff_firm_ids(user: PortalUser) -> list[int]:
    return list(db.session.scalars(select(FirmStaff.firm_id).where(FirmStaff.user_id == user.id)))


def load_access(user: PortalUser, company_public_id: str) -> Access | None:
    """The person's access to the company, or None (then: 404, whatever the reason)."""
    if not company_public_id or len(company_public_id) > 64:
        return None
    company = db.session.scalar(select(Company).where(Company.public_id == company_public_id))
    if company is None:
        return None
    membership = db.session.scalar(
        select(Membership).where(Membership.company_id == company.id, Membership.user_id == user.id)
    )
    if membership is not None:
        return Access(user, company, membership.role, frozenset(membership.modules()), membership)
    if company.firm_id in staff_firm_ids(user):
        return Access(user, company, "staff", ALL_MODULES, None)
    return None


def forbidden(message: str) -> tuple[str, int]:
    return render_template("forbidden.html", message=message), 403


class Refusal(enum.Enum):
    """Why a person may not use a company's page or API operation (`check_access`)."""

    NOT_FOUND = "not_found"  # no such company, or none of theirs: the same answer
    MODULE = "module"  # their access lacks the module
    MANAGE = "manage"  # « Administrez vos accès » is for admins and the firm's staff
    ADVANCED = "advanced"  # the module wants a login with a second factor


def check_access(
    user: PortalUser | None,
    company_public_id: str,
    module: Module | None = None,
    *,
    manage: bool = False,
    advanced: bool,
) -> tuple[Access | None, Refusal | None]:
    """The one decision for pages (`company_view`) and the API (client_portal_rp/api/auth.py):
    the person's access to the company, or why not. `advanced`: their login (page) or token
    (API) carries the MFA level."""
    access = load_access(user, company_public_id) if user is not None else None
    if access is None:
        return None, Refusal.NOT_FOUND
    if module is not None and not access.has(module):
        return access, Refusal.MODULE
    if manage and not access.can_manage_accesses:
        return access, Refusal.MANAGE
    if module is not None and module in access.company.advanced() and not advanced:
        return access, Refusal.ADVANCED
    return access, None


def module_refused_message(access: Access, module: Module) -> str:
    return _(
        "Votre accès à %(company)s ne comprend pas le module « %(module)s ». "
        "Demandez-le à l'administrateur de votre entreprise.",
        company=access.company.name,
        module=module.label,
    )


def manage_refused_message() -> str:
    return _("Seuls les administrateurs de l'entreprise et le cabinet gèrent les accès.")


def company_view(
    module: Module | None = None, *, manage: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view of one company (URL argument `company_id`, its public id); the view receives the
    `Access` as its first argument. `module` is required for it; `manage` means « Administrez
    vos accès » (company admin or firm staff)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(company_id: str, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return login_redirect()
            login = current_login()
            access, refusal = check_access(
                user,
                company_id,
                module,
                manage=manage,
                advanced=login is not None and login.advanced,
            )
            if access is None:
                abort(404)
            if refusal is Refusal.MODULE and module is not None:
                return forbidden(module_refused_message(access, module))
            if refusal is Refusal.MANAGE:
                return forbidden(manage_refused_message())
            if refusal is Refusal.ADVANCED and module is not None:
                if request.method in ("GET", "HEAD"):
                    return login_redirect(advanced=True)
                return forbidden(
                    _(
                        "Le module « %(module)s » demande la sécurité avancée : rechargez la "
                        "page pour confirmer votre identité avec votre second facteur.",
                        module=module.label,
                    )
                )
            g.access = access
            if module is not None and module in access.company.advanced():
                # Pages of a "sécurité avancée" module are never kept for reading offline
                # (the service worker reads this header: static/js/sw.js).
                g.no_offline_copy = True
            return view(access, **kwargs)

        return wrapper

    return decorate


def firm_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view of the firm's side (URL argument `firm_id`, its public id): staff only, 404 for
    anyone else; the view receives the `FirmAccess`."""

    @wraps(view)
    def wrapper(firm_id: str, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return login_redirect()
        firm = db.session.scalar(select(Firm).where(Firm.public_id == firm_id))
        if firm is None or firm.id not in staff_firm_ids(user):
            abort(404)
        return view(FirmAccess(user, firm), **kwargs)

    return wrapper


def one_of_company(model: type[T], company: Company, public_id: str) -> T:
    """An object of `company` by its public id, else 404 (never found by its id alone)."""
    if not public_id or len(public_id) > 64:
        abort(404)
    statement: Any = select(model).where(
        model.public_id == public_id,  # type: ignore[attr-defined]
        model.company_id == company.id,  # type: ignore[attr-defined]
    )
    found: T | None = db.session.scalar(statement)
    if found is None:
        abort(404)
    return found


def companies_of(user: PortalUser) -> list[Access]:
    """Every company the person may open: memberships, then the firms' companies (staff)."""
    accesses: dict[int, Access] = {}
    firm_ids = staff_firm_ids(user)
    if firm_ids:
        for company in db.session.scalars(
            select(Company).where(Company.firm_id.in_(firm_ids)).order_by(Company.name)
        ):
            accesses[company.id] = Access(user, company, "staff", ALL_MODULES, None)
    for membership in db.session.scalars(select(Membership).where(Membership.user_id == user.id)):
        accesses.setdefault(
            membership.company_id,
            Access(
                user,
                membership.company,
                membership.role,
                frozenset(membership.modules()),
                membership,
            ),
        )
    return sorted(accesses.values(), key=lambda a: a.company.name.lower())
