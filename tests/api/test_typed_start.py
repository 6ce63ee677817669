"""POST /api/v1/instances/ of an orchestrator with a typed input (README "Payloads > Types"):
the JSON form is checked against the input hint; a field that does not fit is a 400."""

import pytest

from tests.support import typed_workflows  # noqa: F401 - registers t_typed_order

from .support import instance_count

pytestmark = pytest.mark.django_db

START = "/api/v1/instances/"
ORDER = {
    "id": "00000000-0000-0000-0000-00000000002a",
    "currency": "EUR",
    "lines": [{"sku": "A-1", "price": "19.90", "qty": 3}],
    "deliver_by": "2026-10-25T02:30:00+01:00[Europe/Berlin]",
}


def test_the_json_form_of_a_typed_input_starts_it(api, durable):
    response = api.post(START, {"name": "t_typed_order", "input": ORDER}, format="json")

    assert response.status_code == 202
    assert durable.get_status(response.json()["id"]).input == ORDER


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"currency": "GBP"}, "The input at .currency does not fit its type Order: 'GBP' is not"),
        ({"lines": [{"sku": "A-1"}]}, "at .lines[0] does not fit its type Order: Line needs"),
        ({"deliver_by": "soon"}, "at .deliver_by does not fit its type Order: 'soon' is not a"),
    ],
)
def test_a_field_that_does_not_fit_is_a_400_naming_it(api, change, words):
    before = instance_count()
    response = api.post(
        START, {"name": "t_typed_order", "input": {**ORDER, **change}}, format="json"
    )

    assert response.status_code == 400
    assert words in response.json()["detail"]
    assert instance_count() == before
