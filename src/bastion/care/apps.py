from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "bastion.care"
    label = "care"
    verbose_name = _("Medical care under lockdown")
