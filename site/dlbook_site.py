"""Sphinx extension for the book's site: two fixes to what every page sends the browser.

* Each page starts with the notebook's "Open in Colab" badge, whose picture lives on Colab's
  server; the site shows its own copy (``site/static/open-in-colab.svg``), so a page read offline
  has no broken image and makes no request elsewhere. The link still opens Colab.
* sphinx-thebe and sphinx-togglebutton register inline scripts that Sphinx 7.4 then writes into
  every page twice; the second ``const THEBE_JS_URL`` is a JavaScript error on every page. Each
  script is written once.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "_static/open-in-colab.svg"


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
    body = context.get("body")
    if body and COLAB_BADGE in body:
        context["body"] = body.replace(COLAB_BADGE, context["pathto"](LOCAL_BADGE, 1))


def setup(app):
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
