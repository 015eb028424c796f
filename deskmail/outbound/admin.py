from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from deskmail.outbound import models


@admin.register(models.OutboxItem)
class OutboxItemAdmin(admin.ModelAdmin[models.OutboxItem]):
    list_display = ["id", "kind", "status", "ticket", "recipient", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind"]
    search_fields = ["message_id", "recipient", "ticket__number"]
    raw_id_fields = ["ticket", "outgoing", "agent", "mailbox"]
    readonly_fields = ["message_id", "claimed_at", "claimed_by", "last_attempt_at", "sent_at"]
    actions = ["send_again"]

    @admin.action(description="Send the selected failed mail again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[models.OutboxItem]) -> None:
        # The sending code (and the connectors under it) loads when an operator asks for it.
        from deskmail.outbound.send import retry

        count = sum(retry(item) for item in queryset)
        self.message_user(request, f"{count} mail(s) will be sent again by the worker.")


@admin.register(models.MailboxTemplate)
class MailboxTemplateAdmin(admin.ModelAdmin[models.MailboxTemplate]):
    list_display = ["mailbox", "kind", "subject", "updated_at"]
    list_filter = ["kind", "mailbox"]


@admin.register(models.CannedAnswer)
class CannedAnswerAdmin(admin.ModelAdmin[models.CannedAnswer]):
    list_display = ["name", "mailbox", "updated_at"]
    list_filter = ["mailbox"]
    search_fields = ["name", "body"]
