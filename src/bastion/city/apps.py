from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CityConfig(AppConfig):
    name = "bastion.city"
    label = "city"
    verbose_name = _("City registry")
