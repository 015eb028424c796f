from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "deskmail.core"
    label = "core"
