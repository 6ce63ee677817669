"""Security of the web and API surface: hashed, expiring API tokens (their model, DRF
authentication, admin and the `durable token` CLI's functions), per-user API throttling
and the client address behind a proxy. Settings: durableapp/settings.py, "Security"."""
