from django.apps import AppConfig


class SuggestConfig(AppConfig):
    name = "deskmail.suggest"
    label = "suggest"

    def ready(self) -> None:
        from deskmail.suggest import hooks

        hooks.connect()
