from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "deskmail.sync"
    label = "sync"
    verbose_name = "Mailbox sync"
