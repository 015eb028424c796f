from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "deskmail.tasks"
    label = "tasks"
