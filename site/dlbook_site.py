"""Sphinx extension for the book's site: each page script written once.

sphinx-thebe and sphinx-togglebutton register inline scripts that Sphinx 7.4 then writes into
every page twice; the second ``const THEBE_JS_URL`` is a JavaScript error on every page. This
extension writes each script once.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""


def _once(scripts):
    """``scripts`` without repeats, first kept: a script is its file and attributes (an inline
    script's body is an attribute); the copies differ only in how they name "no file" (None or
    "")."""
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _page_context(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"][:] = _once(context["script_files"])


def setup(app):
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
