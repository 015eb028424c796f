from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "deskmail.routing"
    label = "routing"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from deskmail.routing import presence

        user_logged_in.connect(presence.signed_in, dispatch_uid="routing-signed-in")
        user_logged_out.connect(presence.signed_out, dispatch_uid="routing-signed-out")
