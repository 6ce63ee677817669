"""The UI's tag library: one package, the one Django can load, with everything in use."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from django.conf import settings
from django.template import engines

TEMPLATES = Path(settings.BASE_DIR) / "templates"
BUILTIN = {
    "capfirst",
    "date",
    "default",
    "join",
    "json_script",
    "length",
    "pluralize",
    "slice",
    "slugify",
    "urlencode",
    "yesno",
}


def test_durable_ui_is_the_installed_apps_library():
    from workflows.templatetags import durable_ui

    engine = engines["django"].engine
    assert engine.template_libraries["durable_ui"] is durable_ui.register
    # workflows.ui is not an installed app: a library there would never be loaded.
    assert "workflows.ui" not in settings.INSTALLED_APPS
    assert importlib.util.find_spec("workflows.ui.templatetags") is None


def test_it_has_every_filter_and_tag_the_templates_use():
    from workflows.templatetags.durable_ui import register

    sources = [p.read_text() for p in TEMPLATES.rglob("*.html")]
    used_filters = {f for s in sources for f in re.findall(r"\|([a-z_]+)", s)}
    used_tags = {t for s in sources for t in re.findall(r"\{% ([a-z_]+)", s)}
    builtin_tags = {t for lib in engines["django"].engine.template_builtins for t in lib.tags}
    # Parts of block tags, and tags of the other libraries loaded (static, django_htmx, the
    # installed apps' own libraries such as schedules_ui).
    other = {"else", "elif", "empty", "htmx_script", "static"}
    libraries = engines["django"].engine.template_libraries.values()
    other |= {t for lib in libraries if lib is not register for t in lib.tags}
    used_tags = {t for t in used_tags if not t.startswith("end")} - builtin_tags - other

    # Django's own filters, and those of the other installed apps' libraries.
    others = {f for lib in engines["django"].engine.template_builtins for f in lib.filters}
    others |= {f for lib in libraries if lib is not register for f in lib.filters}
    assert used_filters - BUILTIN - others <= set(register.filters)
    assert used_tags <= set(register.tags)
