"""REST API for integrations (docs/architecture.md, "REST API"): DRF views on top of
DurableClient only.

Where things live: ``urls`` routes; ``views`` handle requests; ``serializers`` (with the
strict ``fields``) define the JSON shapes and so the OpenAPI schema, which ``schema``
completes; ``validators`` check ids and payloads; ``permissions`` who may do what;
``errors`` the one error shape and status table; ``parsers`` the body-size guard;
``links`` the management URLs; ``pagination`` cursor pages; ``responses`` 202 helpers.
"""
