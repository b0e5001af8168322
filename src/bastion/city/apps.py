from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CityConfig(AppConfig):
    name = "bastion.city"
    label = "city"
    verbose_name = _("City registry")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_sync_roles, sender=self)


def _sync_roles(**kwargs: object) -> None:
    """Every migrated database has one group per role with that role's permissions."""
    from bastion.city.services import roles_sync

    roles_sync(using=str(kwargs.get("using", "default")))
