from django.contrib import admin

from deskmail.ingest.models import QuarantinedMessage


@admin.register(QuarantinedMessage)
class QuarantinedMessageAdmin(admin.ModelAdmin[QuarantinedMessage]):
    list_display = ["raw_sha256", "mailbox", "status", "attempts", "next_retry_at", "error"]
    list_filter = ["status", "mailbox"]
    readonly_fields = ["traceback"]
