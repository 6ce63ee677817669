"""The web UI: HTMX pages for approvers and operators, and live updates over websockets.

Pages live one module each (approvals, console, instances, start); every action goes
through :class:`workflows.client.DurableClient`. ``live`` is imported by the app's
``ready()`` so that every process (web and workers) pushes ``instance_changed`` to the
channel layer.
"""
