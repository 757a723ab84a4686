"""docs/bibliography.md: every reference the pages cite is there, with its arXiv link, and
the entries of the rivals the package implements point to where it implements them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BIB = (DOCS / "bibliography.md").read_text(encoding="utf-8")
CITE = re.compile(r"\[([A-Z][A-Za-z]*\d\d)\]")

# the papers a reader of the course needs, with their arXiv identifiers (Gal's thesis and
# Osband's workshop paper have none)
ARXIV = {"GG15": "1506.02158", "GG16": "1506.02142", "HHGL11": "1112.5745",
         "GIG17": "1703.02910", "KAG19": "1906.08158", "KG17": "1703.04977",
         "BCKW15": "1505.05424", "LPB17": "1612.01474", "GHK17": "1705.07832",
         "HMG18": "1807.01969", "Fol21": "2110.04286", "GPSW17": "1706.04599"}


def entries() -> dict[str, str]:
    """``{key: the text of its entry}``, an entry running from ``- **[KEY]**`` to the next."""
    parts = re.split(r"^- \*\*\[([A-Za-z]+\d\d)\]\*\*", BIB, flags=re.MULTILINE)
    return {key: body.split("\n## ", 1)[0] for key, body in zip(parts[1::2], parts[2::2],
                                                              strict=True)}


def test_every_cited_key_has_an_entry():
    pages = [*DOCS.glob("*.md"), *(DOCS / "problems").glob("*.md")]
    cited = {key for p in pages for key in CITE.findall(p.read_text("utf-8"))}
    assert cited, "no citations found: the pattern is stale"
    assert cited <= set(entries()), sorted(cited - set(entries()))


@pytest.mark.parametrize("key", sorted(ARXIV))
def test_entry_links_its_arxiv_abstract(key):
    ident = ARXIV[key]
    assert f"[arXiv:{ident}](https://arxiv.org/abs/{ident})" in entries()[key], key


def test_the_thesis_and_osband_are_there_without_arxiv():
    found = entries()
    assert "Uncertainty in Deep Learning" in found["Gal16"]
    assert "Risk versus Uncertainty" in found["Osb16"]


@pytest.mark.parametrize(("key", "where"), [
    ("GHK17", "(concrete-dropout.md)"), ("GHK17", "(tutorials/11_rivals.md)"),
    ("LPB17", "(tutorials/11_rivals.md)"), ("GPSW17", "(tutorials/11_rivals.md)"),
    ("LPB17", "(results.md#rivals)"), ("GHK17", "(results.md#rivals)")])
def test_a_rival_the_package_implements_links_to_its_page(key, where):
    # GHK17's entry once said "here p is fixed", after Concrete dropout had been added
    assert where in entries()[key], (key, where)


def test_each_entry_has_an_anchor_and_each_citation_links_to_it():
    # a bare "[GG15]" in a reading list is text, not a link: the reader could not follow it
    for key, body in entries().items():
        assert body.startswith(f"{{#{key.lower()}}}"), key
    pages = [p for p in [*DOCS.glob("*.md"), *(DOCS / "problems").glob("*.md")]
             if p.name != "bibliography.md"]
    unlinked = []
    for path in pages:
        text = path.read_text("utf-8")
        for m in CITE.finditer(text):
            after = text[m.end():m.end() + 40]
            target = f"bibliography.md#{m[1].lower()})"
            if not re.match(rf"\]?\((?:\.\./)?{re.escape(target)}", after):
                unlinked.append((path.name, m[0]))
    assert not unlinked, unlinked
