from django.contrib import admin

from deskmail.tickets import models


@admin.register(models.Ticket)
class TicketAdmin(admin.ModelAdmin[models.Ticket]):
    list_display = ["number", "title", "status", "priority", "mailbox", "contact", "created_at"]
    list_filter = ["status", "priority", "mailbox", "queue"]
    search_fields = ["number", "title", "identity_key", "contact__address"]
    raw_id_fields = ["contact", "linked_from", "assignee"]


@admin.register(models.Message)
class MessageAdmin(admin.ModelAdmin[models.Message]):
    list_display = ["message_id", "direction", "from_address", "subject", "ticket", "excluded"]
    list_filter = ["direction", "excluded", "mailbox"]
    search_fields = ["message_id", "from_address", "subject"]
    raw_id_fields = ["ticket"]


@admin.register(models.Contact)
class ContactAdmin(admin.ModelAdmin[models.Contact]):
    list_display = ["address", "name", "organisation"]
    search_fields = ["address", "name", "organisation"]


@admin.register(models.Delivery)
class DeliveryAdmin(admin.ModelAdmin[models.Delivery]):
    list_display = ["message", "mailbox", "address", "source_key", "created_at"]
    raw_id_fields = ["message"]


@admin.register(models.Attachment)
class AttachmentAdmin(admin.ModelAdmin[models.Attachment]):
    list_display = ["filename", "content_type", "size", "message"]
    raw_id_fields = ["message", "blob"]


@admin.register(models.InternalNote)
class InternalNoteAdmin(admin.ModelAdmin[models.InternalNote]):
    list_display = ["ticket", "kind", "created_at"]
    raw_id_fields = ["ticket", "message"]


admin.site.register(models.Queue)
admin.site.register(models.TicketType)
admin.site.register(models.Tag)
admin.site.register(models.Blob)
admin.site.register(models.Counter)
