from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "deskmail.events"
    label = "events"
