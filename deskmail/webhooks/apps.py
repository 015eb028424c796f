from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "deskmail.webhooks"
    label = "webhooks"
