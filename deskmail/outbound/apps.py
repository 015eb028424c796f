from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "deskmail.outbound"
    label = "outbound"
