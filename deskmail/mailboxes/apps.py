from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "deskmail.mailboxes"
    label = "mailboxes"
