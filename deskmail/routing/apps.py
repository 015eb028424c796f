from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "deskmail.routing"
    label = "routing"
