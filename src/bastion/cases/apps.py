from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "bastion.cases"
    label = "cases"
    verbose_name = _("Cases and contacts")

    def ready(self) -> None:
        from bastion.cases import jobs  # registers quarantine releases with the worker

        del jobs
