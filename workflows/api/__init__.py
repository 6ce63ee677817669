"""REST API for integrations (DESIGN.md §6a): DRF views on top of DurableClient only.

Folder map: ``urls`` routes, ``views`` handle requests, ``serializers`` define the JSON
shapes (and so the OpenAPI schema), ``permissions`` the Django permissions, ``errors``
the one error shape, ``parsers`` the request-size guard, ``links`` the management URLs,
``pagination`` cursor pages, ``responses`` the 202/Retry-After helpers.
"""
