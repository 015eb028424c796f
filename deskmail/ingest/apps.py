from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "deskmail.ingest"
    label = "ingest"
