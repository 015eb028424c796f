from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "deskmail.api"
    label = "api"
    verbose_name = "API"
