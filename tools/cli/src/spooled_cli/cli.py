"""spooledctl: the root command, shared options and error handling.

Every command reads ``--url``/``SPOOLED_URL`` and ``--api-key``/``SPOOLED_API_KEY``,
prints readable tables (or one JSON document with ``--json``), and on failure
prints what went wrong and what to do next, with exit code 1 (API error),
2 (bad usage) or 3 (Spooled unreachable).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from spooled_cli import output
from spooled_cli.client import Client, CliError, Config
from spooled_cli.commands import dlq, jobs, queues, schedules, tail


@dataclass
class Ctx:
    client: Client
    json: bool


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--url", metavar="URL", help="Gateway base URL [env SPOOLED_URL; default http://127.0.0.1:8080]"
)
@click.option("--api-key", metavar="KEY", help="API key [env SPOOLED_API_KEY]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait per request")
@click.version_option(package_name="spooled-cli", prog_name="spooledctl")
@click.pass_context
def root(
    ctx: click.Context, url: str | None, api_key: str | None, as_json: bool, timeout: float
) -> None:
    """Operate Spooled: jobs, dead letters, queues, schedules and live events."""
    client = Client(Config.resolve(url, api_key, timeout))
    ctx.call_on_close(client.close)
    ctx.obj = Ctx(client=client, json=as_json)


for group in (jobs.group, dlq.group, queues.group, schedules.group):
    root.add_command(group)
root.add_command(tail.tail)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn CliErrors into a message and an exit code."""
    try:
        root.main(args=argv, prog_name="spooledctl", standalone_mode=False)
    except CliError as err:
        output.err_console.print(f"[bold red]error:[/bold red] {err.message}")
        if err.hint:
            output.err_console.print(f"[dim]hint:[/dim] {err.hint}")
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        output.err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
