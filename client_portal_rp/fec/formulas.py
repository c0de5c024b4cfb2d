"""The key indicators of the Plan Comptable Général, from account balances (DOMAIN.md, ADR 0027).

All amounts are integer cents. Flows (chiffre d'affaires, charges, résultat) add up over
months; positions (cash, receivables, payables) are read at a date, each class-4/5 account
classified by the sign of its own balance then.
"""

from __future__ import annotations

# The indicator names: FecMonth's columns, FecImport.totals' keys, `portal indicators --json`.
KEYS: tuple[str, ...] = (
    "chiffre_affaires",
    "charges",
    "resultat",
    "disponibilites",
    "concours_bancaires",
    "creances_clients",
    "dettes_fournisseurs",
)
FLOW_KEYS: tuple[str, ...] = ("chiffre_affaires", "charges", "resultat")
POSITION_KEYS: tuple[str, ...] = tuple(k for k in KEYS if k not in FLOW_KEYS)
