from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "deskmail.tickets"
    label = "tickets"
