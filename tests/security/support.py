"""Helpers of the security tests: the settings a fresh process gets from an environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.core.management.utils import get_random_secret_key

ROOT = Path(__file__).resolve().parents[2]
# Read in a child process: this one's settings were made for the test run.
PRINT_SETTINGS = (
    "import json, sys; from django.conf import settings; "
    "print(json.dumps({n: getattr(settings, n) for n in sys.argv[1:]}, default=str))"
)


def production_env(**extra: str) -> dict[str, str]:
    """This process's environment as a production server would have it: no DJANGO_* choice
    made (so every default applies), not a test run, a real secret key; then ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="durableapp.settings",
        DJANGO_SECRET_KEY=get_random_secret_key(),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return {name: value for name, value in env.items() if value is not None}


def run_python(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_in(env: dict[str, str], *names: str) -> dict[str, Any]:
    """The values of settings ``names`` in a process started with ``env``."""
    run = run_python(PRINT_SETTINGS, *names, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def startup_error(env: dict[str, str]) -> str:
    """What a process started with ``env`` says when its settings refuse to load."""
    run = run_python(PRINT_SETTINGS, "DEBUG", env=env)
    assert run.returncode != 0, f"settings loaded: {run.stdout}"
    return run.stderr
