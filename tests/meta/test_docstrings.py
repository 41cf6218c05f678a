"""Every public callable has a numpydoc docstring with a runnable example and, if it takes
arrays, the shapes of its arrays.

The examples themselves run as doctests (``--doctest-modules`` over ``wasmpose/``); this test
makes sure they exist. The public names are those of ``SURFACE`` in ``test_api_surface.py``.
"""

import importlib
import inspect
import re

import pytest

from tests.meta.test_api_surface import SURFACE

# numpydoc section header: a title line underlined with dashes
_SECTION = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}\s*$", re.M)
# a shape written as a tuple of symbols or sizes: (N, K, 2), (H, W), (P,), (..., K, 2)
_SHAPE_TUPLE = re.compile(r"\((?:\.\.\.|[A-Za-z0-9_*]+)(?:\s*,\s*(?:\.\.\.|[A-Za-z0-9_* +]+))*,?\)")
# words in a Parameters entry that say the argument is an array
_ARRAY_WORDS = re.compile(r"\b(ndarray|array_like|array)\b")


def _public_callables():
    seen = set()
    for module, names in SURFACE.items():
        mod = importlib.import_module(module)
        for name in names:
            obj = getattr(mod, name)
            if not callable(obj) or id(obj) in seen:
                continue  # constants (__version__, IMAGENET_MEAN, ...), re-exports seen once
            seen.add(id(obj))
            yield pytest.param(obj, id=f"{module}.{name}")


def _sections(doc):
    """``{title: body}`` of a numpydoc docstring (the summary under ``""``)."""
    parts = _SECTION.split(doc)
    out = {"": parts[0]}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        out[title.strip()] = body
    return out


@pytest.mark.parametrize("obj", list(_public_callables()))
def test_public_docstring(obj):
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), "no docstring"
    sections = _sections(doc)
    assert ">>>" in sections.get("Examples", ""), "no Examples section with a >>> example"
    # a callable documenting array parameters or results states their shapes
    params = sections.get("Parameters", "") + sections.get("Attributes", "")
    results = sections.get("Returns", "") + sections.get("Yields", "")
    if _ARRAY_WORDS.search(params + results):
        assert "shape" in (params + results) or _SHAPE_TUPLE.search(params + results), (
            "array parameters or results without a shape in Parameters/Returns")


def test_section_parser_sees_examples():
    # the helpers must be able to fail: a docstring without a section fails the check
    assert "Examples" not in _sections("Summary.\n\nParameters\n----------\nx : int\n")
    assert ">>>" in _sections("S.\n\nExamples\n--------\n>>> 1\n1\n")["Examples"]
    assert _SHAPE_TUPLE.search("x : ndarray (N, K, 2)") and not _SHAPE_TUPLE.search("(see f)")
