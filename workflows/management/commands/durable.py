"""`python manage.py durable <subcommand>`: serve, worker, start, status, raise-event, ..."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...cli import SUBCOMMANDS
from ...engine import DurableError


class Command(BaseCommand):
    help = "Run and manage durable workflows. See `durable <subcommand> --help`."

    def add_arguments(self, parser):  # noqa: ANN001, ANN201 - argparse
        subparsers = parser.add_subparsers(dest="subcommand", metavar="subcommand", required=True)
        for name, module in SUBCOMMANDS.items():
            sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(sub)

    def handle(self, *args, **options):  # noqa: ANN002, ANN003, ANN201
        module = SUBCOMMANDS[options["subcommand"]]
        try:
            module.run(options, self.stdout, self.stderr)
        except DurableError as exc:
            raise CommandError(str(exc)) from None
