"""The browser tests' server: a port taken between finding it free and binding it (a
second `make test` on the machine did it once) means another port, not a failed test."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.ui.server import ServeProcess

pytestmark = pytest.mark.browser  # the browser tests' server: it runs where they run


def test_a_port_taken_before_the_server_binds_it_is_given_up_for_another(transactional_db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        server = ServeProcess("tests.support.ui_workflows")
        server.port, server.url = busy, f"http://127.0.0.1:{busy}"
        server.start()
        try:
            assert server.port != busy
            with urllib.request.urlopen(f"{server.url}/login/", timeout=10) as response:
                assert response.status == 200
        finally:
            server.stop()
