"""The `dialer` command line: what a campaign manager or an operator types.

One module per command group; each command parses, calls, prints.
Exit codes: 0 success, 1 refused or failed (nothing was changed), 2 usage error.
Every command takes --company NAME (default: the `default_company` setting).
"""

from __future__ import annotations

import click

from dialer.cli import (
    admin,
    blackouts,
    campaign,
    check,
    company,
    dnc,
    inbound,
    leads,
    nodes,
    numbers,
    reports,
    spam,
    statuses,
    tokens,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dialer")
def main() -> None:
    """Dialer: campaign engine that screens every contact against DNC lists and the law.

    Settings come from config/dialer.toml and DIALER_* environment variables. The data
    folder is DIALER_HOME (default: the user's data folder, e.g. ~/.local/share/dialer),
    holding the SQLite database dialer.db; DIALER_DATABASE_URL names another database
    (e.g. PostgreSQL). Run `dialer init` first: it creates the database and says where.
    File formats (campaigns, statuses, scenarios, lead files): config/examples/README.md.
    """


for command in (
    admin.init,
    admin.users,
    tokens.tokens_group,
    admin.serve,
    nodes.nodes,
    company.company_group,
    numbers.numbers_group,
    check.check,
    campaign.campaign_group,
    statuses.statuses_group,
    blackouts.blackouts_group,
    dnc.dnc,
    spam.spam_group,
    inbound.inbound_group,
    leads.leads_group,
    reports.skips,
    reports.interactions,
    reports.report,
):
    main.add_command(command)
