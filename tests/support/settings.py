"""Settings of a test run: durableapp's own, with names that no other run on the machine uses.

Several runs share one machine: two ``make test`` at once, the suites that ``make test``
runs side by side, and each suite's pytest-xdist workers. Each pytest run takes the
lowest free *slot* (a lock file, held as long as the run's main process lives), and each
of its processes gets

* task hub ``t<slot>``, ``t<slot>_gw<n>`` in xdist worker n: broker queues of its own;
* test database ``test_durableapp_<slot>`` on PostgreSQL, ``db-<slot>.sqlite3`` in the
  temporary folder on SQLite (pytest-django adds ``_gw<n>`` in xdist workers).

Slots are reused, so queues and databases do not pile up on the servers. A
DURABLE_TASK_HUB set in the environment is kept as the stem of the hub's name.

Processes that tests start (``durable worker``, ``durable serve``) inherit
DJANGO_SETTINGS_MODULE; they are not pytest and get durableapp's settings (with a fast
password hasher, below), with the database and hub the test passed them.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from pathlib import Path

from django.conf import global_settings

UNDER_PYTEST = "_pytest" in sys.modules
FOLDER = Path(tempfile.gettempdir()) / "durableapp-tests"
_held: list[int] = []  # the slot's lock file stays open (locked) for the process's life


def take_slot() -> int:
    """The lowest slot no running test run holds; held until this process exits."""
    FOLDER.mkdir(exist_ok=True)
    for slot in range(1000):
        fd = os.open(FOLDER / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held.append(fd)
        return slot
    raise RuntimeError(f"no free test slot in {FOLDER}: 1000 test runs at once?")


if UNDER_PYTEST:
    # xdist workers inherit the slot of the run that started them.
    if "DURABLEAPP_TEST_SLOT" not in os.environ:
        os.environ["DURABLEAPP_TEST_SLOT"] = str(take_slot())
    SLOT = int(os.environ["DURABLEAPP_TEST_SLOT"])
    WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
    stem = os.environ.setdefault(
        "DURABLEAPP_TEST_HUB_STEM", os.environ.get("DURABLE_TASK_HUB", f"t{SLOT}")
    )
    os.environ["DURABLE_TASK_HUB"] = f"{stem}_{WORKER}" if WORKER else stem

from durableapp.settings import *  # noqa: E402, F403 - then read with the names above

if UNDER_PYTEST:
    # Its `flush` empties the database after each transactional test (see the app).
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.flushing"]  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405 - from durableapp.settings
        "NAME": str(FOLDER / f"db-{SLOT}.sqlite3")
        if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"  # noqa: F405
        else f"test_durableapp_{SLOT}"
    }

# A test's users sign in with passwords too: PBKDF2's million rounds cost 0.5 s of CPU per
# user made or signed in, minutes of a CI run. Tests, and the servers and workers they
# start (this module is their settings too), hash with MD5; the other hashers still check
# what they made. Production keeps durableapp's hashers.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    *getattr(
        sys.modules["durableapp.settings"], "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS
    ),
]
