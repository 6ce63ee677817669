"""Django looks for tag libraries in an app's templatetags package; the UI's live in
workflows/ui/templatetags/durable_ui.py."""

from workflows.ui.templatetags.durable_ui import register  # noqa: F401
