from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "bastion.cli"
    label = "cli"
    verbose_name = "Command line"
