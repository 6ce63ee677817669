"""The Django project: env-driven settings, URLs and the ASGI/WSGI entry points."""
