"""The ``pycon`` examples of the user guide (``docs/*.md``) run and print what the page says.

Only fenced ``pycon`` blocks are run, each page in one namespace, top to bottom, with the
doctest options of the package's own doctests (ELLIPSIS).
"""

import doctest
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
_PYCON = re.compile(r"^```pycon\n(.*?)^```", re.M | re.S)
PAGES = sorted(p for p in DOCS.glob("*.md") if _PYCON.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_guide_examples(page):
    text = "\n".join(_PYCON.findall(page.read_text(encoding="utf-8")))
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    failures = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda s: failures.append(s))
    assert runner.failures == 0, "".join(failures)


def test_pages_have_examples():
    # the user guide pages each show their module at work
    assert {"cpu.md", "tracking.md"} <= {p.name for p in PAGES}
