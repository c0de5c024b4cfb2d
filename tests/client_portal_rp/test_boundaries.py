"""The portal is a separate relying party: it talks to the IdP over OIDC only, never in-process."""

from __future__ import annotations

import ast
from pathlib import Path

import client_portal_rp

PACKAGE_DIR = Path(client_portal_rp.__file__).parent
ROOT = PACKAGE_DIR.parent
# The relying parties and the library they share: OIDC over HTTP only.
RELYING_PARTY_DIRS = [PACKAGE_DIR, ROOT / "relying_party", ROOT / "samples"]


def idp_imports(source: str) -> list[str]:
    """Every `import idp...` / `from idp... import` of a module, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "idp"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "idp"
        ):
            found.append(node.module)
    return found


def test_boundaries_portal_never_imports_idp() -> None:
    for folder in RELYING_PARTY_DIRS:
        modules = sorted(folder.rglob("*.py"))
        assert modules, f"no module found in {folder}: the scan would prove nothing"
        offenders = {
            str(path.relative_to(ROOT)): names
            for path in modules
            if (names := idp_imports(path.read_text(encoding="utf-8")))
        }
        assert offenders == {}


def test_boundaries_scan_detects_every_import_form() -> None:
    source = (
        "import idp\nimport idp.accounts as a\nfrom idp.extensions import db\nfrom . import x\n"
    )
    assert idp_imports(source) == ["idp", "idp.accounts", "idp.extensions"]
    assert idp_imports("import idpx\nfrom idp_other import y\n") == []
