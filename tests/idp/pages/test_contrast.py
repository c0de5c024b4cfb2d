"""WCAG contrast of the stylesheet's colours, read from app.css itself.

Focus rings need 3:1 against what surrounds them (WCAG 2.2 SC 1.4.11 non-text contrast; the ring
is offset from the element, so its neighbour is the background): light backgrounds on the page,
the blue header for its links and buttons. Text needs 4.5:1 (SC 1.4.3).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS_FILE = Path(__file__).resolve().parents[3] / "idp" / "static" / "css" / "app.css"
HEX = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")
VAR = re.compile(r"var\((--[\w-]+)\)")
# Selectors whose elements sit on the blue header (the skip link shows over it too).
ON_HEADER = (".site-header", ".skip-link")

Rules = list[tuple[str, dict[str, str]]]
Properties = dict[str, str]


# --- the WCAG formulas ---------------------------------------------------------------------


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour written #rgb or #rrggbb."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(digits[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    lighter, darker = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# --- reading app.css -----------------------------------------------------------------------


def parse_rules(css: str) -> Rules:
    """(selector, declarations) of every rule, @media blocks flattened."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    for match in re.finditer(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = {}
        for declaration in match.group(2).split(";"):
            name, sep, value = declaration.partition(":")
            if sep:
                declarations[name.strip()] = value.strip()
        rules.append((" ".join(match.group(1).split()), declarations))
    return rules


@pytest.fixture(scope="module")
def rules() -> Rules:
    return parse_rules(CSS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def properties(rules: Rules) -> Properties:
    """The custom properties of :root."""
    return {
        name: value
        for selector, declarations in rules
        if selector == ":root"
        for name, value in declarations.items()
        if name.startswith("--")
    }


def resolve(value: str, properties: Properties) -> str:
    """The hex colour of a value: a colour, var(--x), or a shorthand that contains one."""
    for _ in range(10):
        if found := VAR.search(value):
            value = properties[found.group(1)]
            continue
        if found := HEX.search(value):
            return found.group(0).lower()
        break
    raise AssertionError(f"no colour in {value!r}")


def declared(rules: Rules, selector: str, *names: str) -> str:
    """The last value of the first of `names` declared for exactly `selector`."""
    value = None
    for rule_selector, declarations in rules:
        if rule_selector == selector:
            for name in names:
                if name in declarations:
                    value = declarations[name]
                    break
    assert value is not None, f"{selector} declares none of {names}"
    return value


def focus_rings(rules: Rules, properties: Properties) -> list[tuple[str, str]]:
    """(selector, ring colour) of every :focus-visible rule that sets the outline's colour."""
    rings = []
    for selector, declarations in rules:
        if ":focus-visible" not in selector:
            continue
        value = declarations.get("outline-color") or declarations.get("outline")
        if value:
            rings.append((selector, resolve(value, properties)))
    return rings


def light_backgrounds(properties: Properties) -> dict[str, str]:
    """Where focusable elements sit outside the header: the page, cards, notices, fields."""
    return {
        "white": "#ffffff",
        "--card": resolve("var(--card)", properties),
        "--bg (page)": resolve("var(--bg)", properties),
        "--err-bg (error notice)": resolve("var(--err-bg)", properties),
        "--ok-bg (success notice)": resolve("var(--ok-bg)", properties),
    }


# --- the tests -----------------------------------------------------------------------------


def test_contrast_formula_gives_the_known_ratios() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#fff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    # The reviewed defect: the old amber ring on white.
    assert contrast_ratio("#f0a500", "#ffffff") == pytest.approx(2.08, abs=0.01)


def test_css_parser_reads_root_properties_and_rules(rules: Rules, properties: Properties) -> None:
    assert properties["--brand"] == "#1d3f8c"
    assert properties["--bg"] == "#f5f7fa"
    assert resolve(declared(rules, ".site-header", "background"), properties) == "#1d3f8c"
    assert any(":focus-visible" in selector for selector, _ in rules)


def test_focus_ring_is_3_to_1_on_white_and_light_grey(rules: Rules, properties: Properties) -> None:
    ring = resolve(declared(rules, ":focus-visible", "outline-color", "outline"), properties)
    assert ring == resolve("var(--focus)", properties)
    for background in ("#ffffff", "#f5f7fa"):
        assert contrast_ratio(ring, background) >= 3, (ring, background)


def test_focus_ring_is_3_to_1_in_the_blue_header(rules: Rules, properties: Properties) -> None:
    header = resolve(declared(rules, ".site-header", "background"), properties)
    assert header == "#1d3f8c"
    ring = resolve(
        declared(rules, ".site-header :focus-visible", "outline-color", "outline"), properties
    )
    assert contrast_ratio(ring, header) >= 3, (ring, header)
    skip = resolve(declared(rules, ".skip-link:focus-visible", "outline-color"), properties)
    assert contrast_ratio(skip, header) >= 3, (skip, header)


def test_every_focus_ring_is_3_to_1_against_its_backgrounds(
    rules: Rules, properties: Properties
) -> None:
    header = {"header": resolve(declared(rules, ".site-header", "background"), properties)}
    rings = focus_rings(rules, properties)
    assert len(rings) >= 2
    failures = []
    for selector, ring in rings:
        backgrounds = header if selector.startswith(ON_HEADER) else light_backgrounds(properties)
        for name, background in backgrounds.items():
            ratio = contrast_ratio(ring, background)
            if ratio < 3:
                failures.append(f"{selector}: {ring} on {name} {background}: {ratio:.2f}:1")
    assert not failures, "\n".join(failures)


def test_error_summary_text_is_4_5_to_1_and_its_border_3_to_1(
    rules: Rules, properties: Properties
) -> None:
    background = resolve(declared(rules, ".error-summary", "background"), properties)
    for selector in (".error-summary", ".error-summary h2", ".error-summary a"):
        text = resolve(declared(rules, selector, "color"), properties)
        assert contrast_ratio(text, background) >= 4.5, (selector, text, background)
    border = resolve(declared(rules, ".error-summary", "border"), properties)
    page = resolve("var(--bg)", properties)
    assert contrast_ratio(border, background) >= 3 and contrast_ratio(border, page) >= 3


def test_footer_text_and_links_are_4_5_to_1_on_the_page(
    rules: Rules, properties: Properties
) -> None:
    page = resolve("var(--bg)", properties)
    text = resolve(declared(rules, ".site-footer", "color"), properties)
    link = resolve(declared(rules, "a", "color"), properties)
    assert contrast_ratio(text, page) >= 4.5 and contrast_ratio(link, page) >= 4.5
