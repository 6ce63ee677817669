"""Every page carries a Content-Security-Policy; with the production HTTPS settings plain
HTTP is redirected (not the probes') and HTTPS answers carry HSTS."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

PAGES = ["/login/", "/admin/login/", "/healthz", "/api/v1/instances/", "/no-such-page/"]
SIGNED_IN_PAGES = ["/approvals/", "/console/", "/start/", "/admin/", "/api/docs/"]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_a_strict_content_security_policy(client, url):
    policy = directives(client.get(url))

    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_signed_in_pages_have_it_too(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 200
    assert directives(response)["script-src"] == ["'self'"]


def test_the_api_docs_load_their_script_as_a_file(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    script = admin_client.get("/api/docs/?script=")

    assert "<script>" not in page
    assert 'src="/api/docs/?script="' in page
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


PRODUCTION_HTTPS = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


@override_settings(**PRODUCTION_HTTPS)
def test_plain_http_is_redirected_but_the_probes_are_not():
    browser = Client()

    redirected = browser.get("/login/")

    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/login/"
    assert browser.get("/healthz").status_code != 301
    assert browser.get("/metrics").status_code != 301


@override_settings(**PRODUCTION_HTTPS)
def test_https_through_the_proxy_is_served_with_hsts():
    response = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == ("max-age=31536000; includeSubDomains; preload")
