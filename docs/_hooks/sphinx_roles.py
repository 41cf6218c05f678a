"""mkdocs hook: Sphinx roles in docstrings (``:func:`calibrate```) become cross-references.

The docstrings follow numpydoc, which writes references as Sphinx roles; mkdocstrings renders
them as text (``:func:<code>calibrate</code>``). This hook turns each into an optional autorefs
reference: a link when the name resolves (as written, or inside the page's module), plain code
otherwise. Only the API pages (``api/<module>.md``) are touched.
"""

import re

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([\w.]+)(\(\))?</code>")


def on_page_content(html, page, **kwargs):
    path = page.file.src_uri
    if not path.startswith("api/"):
        return html
    module = "wasmpose." + path[len("api/"):-len(".md")]

    def ref(m):
        tilde, name, call = m.groups()
        title = (name.rsplit(".", 1)[-1] if tilde else name) + (call or "")
        first, second = (name, f"{module}.{name}") if name.startswith("wasmpose") else (
            f"{module}.{name}", f"wasmpose.{name}")
        return (f'<autoref identifier="{first}" slug="{second}" optional>'
                f"<code>{title}</code></autoref>")

    return _ROLE.sub(ref, html)
