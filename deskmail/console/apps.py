from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "deskmail.console"
    label = "console"
