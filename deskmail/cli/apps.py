from django.apps import AppConfig


class CliConfig(AppConfig):
    """The `deskmail` command's own subcommands (management commands), thin over the layers."""

    name = "deskmail.cli"
    label = "cli"
