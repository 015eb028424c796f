from django.apps import AppConfig


class ApiTokensConfig(AppConfig):
    name = "deskmail.apitokens"
    label = "apitokens"
    verbose_name = "API tokens"
