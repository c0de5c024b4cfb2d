"""docs/security.md keeps its promise: every case 1-57 lists its tests or the issue building it.

The document is parsed line by line. A case is a heading `### N. Title`; below it, until the
next heading, these lines count:

    - Tests: `tests/some/file.py::test_function_name`
    - Not built yet: issue N (what it builds).

Any other line starting with `- Tests:` or `- Not built yet:` is malformed and reported. A listed
test is looked up by its function name in every `tests/**/*.py` file: the file part may be out
of date (tests move between files), the name may not. The checker's own tests at the bottom run
it on small documents, so each kind of defect is shown to make it fail.
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "security.md"
TESTS_DIR = ROOT / "tests"
CASE_NUMBERS = range(1, 58)

CASE_HEADING = re.compile(r"^#{3}\s+(\d+)\.\s+\S")
ANY_HEADING = re.compile(r"^#{1,6}\s")
TESTS_PREFIX = "- Tests:"
TESTS_LINE = re.compile(r"^- Tests: `(?P<path>[^`:\s]+\.py)::(?P<name>[A-Za-z_]\w*)`\s*$")
ISSUE_PREFIX = "- Not built yet:"
ISSUE_LINE = re.compile(r"^- Not built yet: issue (?P<issue>[1-9]\d*) \((?P<what>[^()]+)\)\.\s*$")
DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(?P<name>[A-Za-z_]\w*)[ \t]*\(", re.M)


@dataclass(frozen=True)
class TestReference:
    """One `- Tests:` line: where the document says the test is, and its function name."""

    __test__ = False  # a data class, not a pytest test class

    path: str
    name: str
    line: int


@dataclass
class Case:
    number: int
    line: int
    tests: list[TestReference] = field(default_factory=list)
    issues: list[int] = field(default_factory=list)


@dataclass
class Document:
    cases: dict[int, Case]
    problems: list[str]  # defects of the document as a whole (not of one case's coverage)


def parse_document(text: str) -> Document:
    """Read the cases, their `Tests:` and `Not built yet:` lines, and any malformed line."""
    cases: dict[int, Case] = {}
    problems: list[str] = []
    current: Case | None = None
    for line_number, line in enumerate(text.splitlines(), start=1):
        if heading := CASE_HEADING.match(line):
            number = int(heading.group(1))
            if number in cases:
                problems.append(
                    f"line {line_number}: case {number} appears twice "
                    f"(first at line {cases[number].line})"
                )
            current = Case(number, line_number)
            cases.setdefault(number, current)
            continue
        if ANY_HEADING.match(line):
            current = None
            continue
        stripped = line.strip()
        if not stripped.startswith((TESTS_PREFIX, ISSUE_PREFIX)):
            continue
        where = f"line {line_number}" + (f" (case {current.number})" if current else "")
        if current is None:
            problems.append(f"{where}: coverage line outside any case: {stripped!r}")
        elif tests := TESTS_LINE.match(line):
            current.tests.append(TestReference(tests["path"], tests["name"], line_number))
        elif issue := ISSUE_LINE.match(line):
            current.issues.append(int(issue["issue"]))
        else:
            problems.append(
                f"{where}: malformed coverage line {stripped!r}; expected "
                "'- Tests: `tests/<file>.py::<test_function>`' or "
                "'- Not built yet: issue <N> (<what>).'"
            )
    problems += [
        f"case {number} (line {cases[number].line}) is outside 1-{CASE_NUMBERS[-1]}"
        for number in sorted(cases)
        if number not in CASE_NUMBERS
    ]
    return Document(cases, problems)


def _defined_names(source: str) -> set[str]:
    """Names of the functions a module defines, at any depth; a file that does not parse
    (someone is editing it) falls back to a textual `def <name>(` match."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {match["name"] for match in DEF_LINE.finditer(source)}
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def find_test_definitions(tests_dir: Path) -> dict[str, list[str]]:
    """Function name -> the files (relative to the tests directory's parent) defining it."""
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.rglob("*.py")):
        source = path.read_text(encoding="utf-8", errors="replace")
        relative = path.relative_to(tests_dir.parent).as_posix()
        for name in _defined_names(source):
            found.setdefault(name, []).append(relative)
    return found


def missing_case_problem(document: Document, number: int) -> str | None:
    """(a) The case must be in the document."""
    if number in document.cases:
        return None
    return f"case {number} is missing from docs/security.md (no '### {number}. ...' heading)"


def coverage_problem(case: Case) -> str | None:
    """(b) The case must name its tests or the issue that will build it."""
    if case.tests or case.issues:
        return None
    return (
        f"case {case.number} (line {case.line}) lists neither a test "
        "('- Tests: `tests/<file>.py::<test_function>`') nor the issue that builds it "
        "('- Not built yet: issue <N> (<what>).')"
    )


def unknown_test_problems(case: Case, definitions: dict[str, list[str]]) -> list[str]:
    """(c) Every listed test function must be defined somewhere under tests/."""
    problems = []
    for reference in case.tests:
        if reference.name in definitions:
            continue
        close = difflib.get_close_matches(reference.name, definitions, n=3, cutoff=0.75)
        hint = "; ".join(f"{name} in {', '.join(definitions[name])}" for name in close)
        problems.append(
            f"case {case.number} (line {reference.line}): test {reference.name} "
            f"(listed in {reference.path}) is defined in no file under tests/"
            + (f"; similar names: {hint}" if hint else "")
        )
    return problems


def moved_tests(case: Case, definitions: dict[str, list[str]]) -> list[str]:
    """Listed tests that exist, but no longer in the file the document names (not an error)."""
    return [
        f"case {case.number}: {reference.name} is listed in {reference.path} "
        f"but is now in {', '.join(definitions[reference.name])}"
        for reference in case.tests
        if reference.name in definitions and reference.path not in definitions[reference.name]
    ]


def case_problems(document: Document, number: int, definitions: dict[str, list[str]]) -> list[str]:
    """Everything wrong with one case: (a), then (b), then (c)."""
    if missing := missing_case_problem(document, number):
        return [missing]
    case = document.cases[number]
    if uncovered := coverage_problem(case):
        return [uncovered]
    return unknown_test_problems(case, definitions)


def report(problems: Iterable[str]) -> str:
    return "docs/security.md:\n  " + "\n  ".join(problems)


# --- The project's document ------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> Document:
    assert DOCUMENT.is_file(), f"{DOCUMENT} is missing"
    return parse_document(DOCUMENT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def definitions() -> dict[str, list[str]]:
    return find_test_definitions(TESTS_DIR)


def test_security_cases_document_is_well_formed(document: Document) -> None:
    assert document.problems == [], report(document.problems)


@pytest.mark.parametrize("number", CASE_NUMBERS)
def test_security_case_lists_existing_tests_or_its_issue(
    document: Document, definitions: dict[str, list[str]], number: int
) -> None:
    problems = case_problems(document, number, definitions)
    assert problems == [], report(problems)
    if moved := moved_tests(document.cases[number], definitions):
        warnings.warn("update the file paths: " + "; ".join(moved), UserWarning, stacklevel=1)


# --- The checker itself: each defect makes it fail ---------------------------------------------


def _document_text(skip: int | None = None, uncovered: int | None = None, test: str = "") -> str:
    """A complete document in the project's form, with one case dropped or left bare."""
    parts = ["# Cases", "", "## Group", ""]
    for number in CASE_NUMBERS:
        if number == skip:
            continue
        parts.append(f"### {number}. Case {number}")
        parts.append("What the case requires.")
        if number == uncovered:
            parts.append("- Not covered: everything.")
        elif number == 1:
            parts.append(f"- Tests: `tests/test_a.py::{test or 'test_area_one'}`")
        else:
            parts.append("- Not built yet: issue 13 (OpenID Connect provider).")
        parts.append("")
    return "\n".join(parts)


@pytest.fixture
def fake_tests(tmp_path: Path) -> dict[str, list[str]]:
    """A tests/ tree where test_area_one moved from test_a.py to sub/test_b.py."""
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    (tmp_path / "tests" / "test_a.py").write_text("def test_other():\n    pass\n")
    (tmp_path / "tests" / "sub" / "test_b.py").write_text(
        "import pytest\n\n\n@pytest.mark.slow\ndef test_area_one(client):\n    pass\n"
    )
    # A name that only appears inside a string is not a definition.
    (tmp_path / "tests" / "test_c.py").write_text('TEXT = """\ndef test_ghost():\n"""\n')
    return find_test_definitions(tmp_path / "tests")


def _all_problems(text: str, definitions: dict[str, list[str]]) -> list[str]:
    document = parse_document(text)
    problems = list(document.problems)
    for number in CASE_NUMBERS:
        problems += case_problems(document, number, definitions)
    return problems


def test_checker_accepts_a_complete_document(fake_tests: dict[str, list[str]]) -> None:
    assert _all_problems(_document_text(), fake_tests) == []


def test_checker_fails_when_a_case_is_missing(fake_tests: dict[str, list[str]]) -> None:
    problems = _all_problems(_document_text(skip=8), fake_tests)
    assert problems == ["case 8 is missing from docs/security.md (no '### 8. ...' heading)"]


def test_checker_fails_when_a_case_has_neither_tests_nor_issue(
    fake_tests: dict[str, list[str]],
) -> None:
    (problem,) = _all_problems(_document_text(uncovered=42), fake_tests)
    assert problem.startswith("case 42 (line ") and "lists neither a test" in problem


def test_checker_fails_when_a_listed_test_does_not_exist(
    fake_tests: dict[str, list[str]],
) -> None:
    (problem,) = _all_problems(_document_text(test="test_area_onee"), fake_tests)
    assert problem.startswith("case 1 (line ")
    assert "test test_area_onee (listed in tests/test_a.py) is defined in no file" in problem
    assert "similar names: test_area_one in tests/sub/test_b.py" in problem
    (ghost,) = _all_problems(_document_text(test="test_ghost"), fake_tests)
    assert "test_ghost" in ghost


def test_checker_finds_a_moved_test_by_name_and_tells_where_it_is(
    fake_tests: dict[str, list[str]],
) -> None:
    document = parse_document(_document_text())
    assert case_problems(document, 1, fake_tests) == []
    assert moved_tests(document.cases[1], fake_tests) == [
        "case 1: test_area_one is listed in tests/test_a.py but is now in tests/sub/test_b.py"
    ]


@pytest.mark.parametrize(
    "bad_line",
    [
        "- Tests: test_area_one",
        "- Tests: `tests/test_a.py`",
        "- Tests: `tests/test_a.py::test_area_one[param]`",
        "- Not built yet: issue twelve (registry).",
        "- Not built yet: #12",
    ],
)
def test_checker_fails_on_a_malformed_coverage_line(
    fake_tests: dict[str, list[str]], bad_line: str
) -> None:
    text = _document_text().replace("What the case requires.", bad_line, 1)
    (problem,) = _all_problems(text, fake_tests)
    assert problem.startswith("line 6 (case 1): malformed coverage line")


def test_checker_fails_on_duplicate_and_out_of_range_cases(
    fake_tests: dict[str, list[str]],
) -> None:
    text = _document_text() + "\n### 8. Again\n- Not built yet: issue 12 (registry).\n"
    text += "\n### 58. Extra\n- Not built yet: issue 12 (registry).\n"
    problems = _all_problems(text, fake_tests)
    assert len(problems) == 2
    assert "case 8 appears twice" in problems[0]
    assert problems[1].startswith("case 58 (line") and "outside 1-57" in problems[1]


def test_checker_fails_on_a_coverage_line_outside_any_case(
    fake_tests: dict[str, list[str]],
) -> None:
    text = "## Group\n- Not built yet: issue 12 (registry).\n" + _document_text()
    (problem,) = _all_problems(text, fake_tests)
    assert problem.startswith("line 2: coverage line outside any case")
