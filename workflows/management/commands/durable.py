"""`python manage.py durable <subcommand>`: serve, worker, start, status, raise-event, ..."""

from __future__ import annotations

from django.core import checks
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from ...cli import SUBCOMMANDS
from ...engine import DurableError

# Only `serve` answers HTTP. The other subcommands (a worker above all, started in every
# process of every machine) skip the checks of what serves pages: the URL checks import
# every view, the API and its schema generator (a fifth of a worker's start-up CPU), the
# admin's and the templates' load every template tag library (another 0.2 s).
SERVES_URLS = frozenset({"serve"})
SERVING_TAGS = frozenset(
    {checks.Tags.urls, checks.Tags.admin, checks.Tags.templates, checks.Tags.staticfiles}
)
# The exit status when the database cannot be reached: a script may try again later
# (1 stays every other error, a mistake to correct first).
DATABASE_UNAVAILABLE = 3


def check_tags(subcommand: str) -> list[str] | None:
    """The system-check tags a subcommand runs (None: every check)."""
    if subcommand in SERVES_URLS:
        return None
    return sorted(checks.registry.registry.tags_available() - SERVING_TAGS)


class Command(BaseCommand):
    help = "Run and manage durable workflows. See `durable <subcommand> --help`."
    requires_system_checks = []  # handle() runs them, by subcommand

    def add_arguments(self, parser):  # noqa: ANN001, ANN201 - argparse
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")
        subparsers = parser.add_subparsers(dest="subcommand", metavar="subcommand", required=True)
        for name, module in SUBCOMMANDS.items():
            sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(sub)

    def handle(self, *args, **options):  # noqa: ANN002, ANN003, ANN201
        module = SUBCOMMANDS[options["subcommand"]]
        try:
            if not options["skip_checks"]:
                self.check(tags=check_tags(options["subcommand"]))
            module.run(options, self.stdout, self.stderr)
        except DurableError as exc:
            raise CommandError(str(exc)) from None
        except (OperationalError, InterfaceError) as exc:
            raise CommandError(unavailable(exc), returncode=DATABASE_UNAVAILABLE) from None


def unavailable(exc: Exception) -> str:
    """One line for the database away, instead of a driver's traceback.

    Example::

        unavailable(OperationalError("connection failed: ... Connection refused"))
        # -> "The database cannot be reached (connection failed: ... Connection refused).
        #     Check DATABASE_URL and that the database server runs, then try again."
    """
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return (
        f"The database cannot be reached ({reason}). Check DATABASE_URL and that the "
        "database server runs, then try again."
    )
