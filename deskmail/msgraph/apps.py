from django.apps import AppConfig


class MsgraphConfig(AppConfig):
    name = "deskmail.msgraph"
    label = "msgraph"
    verbose_name = "Microsoft Graph change notifications"
