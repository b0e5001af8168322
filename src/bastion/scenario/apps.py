from django.apps import AppConfig


class ScenarioConfig(AppConfig):
    name = "bastion.scenario"
    label = "scenario"
    verbose_name = "Scenario runner"
