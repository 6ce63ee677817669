"""Login, the API schema and the shared layout."""

import pytest

pytestmark = pytest.mark.django_db


def test_login_page_loads_our_css_and_htmx(client):
    response = client.get("/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/workflows/app.css" in html
    assert "htmx" in html
    assert 'name="password"' in html


def test_api_schema_requires_authentication(client):
    assert client.get("/api/schema/").status_code in (401, 403)


def test_api_schema_and_docs_for_a_signed_in_user(admin_client):
    assert admin_client.get("/api/schema/").status_code == 200
    assert admin_client.get("/api/docs/").status_code == 200


def test_admin_requires_login(client):
    response = client.get("/admin/")

    assert response.status_code == 302
