"""The mailbox admin. Secrets are write-only: a stored secret is never sent to the browser."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from deskmail.mailboxes.models import Mailbox, MailboxAddress

_KEEP = "Leave empty to keep the stored secret."


class MailboxForm(forms.ModelForm[Mailbox]):
    # Not bound to the model fields, so the stored values are never the form's initial data.
    new_inbound_secret = forms.CharField(
        label="Inbound password or secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_KEEP,
    )
    new_outbound_secret = forms.CharField(
        label="Outbound password or secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_KEEP,
    )

    class Meta:
        model = Mailbox
        fields = ["name", "key", "address", "status", "config"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        source = {
            **(cleaned.get("config") or {}),
            "name": cleaned["name"],
            "key": cleaned["key"],
            "address": cleaned["address"],
        }
        if cleaned["status"] != Mailbox.Status.FAILED:
            source["status"] = cleaned["status"]
        # The configuration's models load when a form is checked, not with the admin.
        from pydantic import ValidationError

        from deskmail.mailboxes.config import MailboxConfig

        try:
            config = MailboxConfig.model_validate(source)
        except ValidationError as exc:
            messages = [
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            ]
            raise forms.ValidationError(messages) from exc
        taken = (
            MailboxAddress.objects.filter(address__in=config.own_addresses())
            .exclude(mailbox_id=self.instance.pk)
            .select_related("mailbox")
        )
        for row in taken:
            self.add_error(None, f"{row.address} is already used by mailbox {row.mailbox.name}")
        cleaned["key"] = config.key
        cleaned["address"] = config.address
        cleaned["config"] = config.model_dump(mode="json", by_alias=True)
        return cleaned

    def save(self, commit: bool = True) -> Mailbox:
        mailbox: Mailbox = super().save(commit=False)
        for field in ("inbound_secret", "outbound_secret"):
            value = self.cleaned_data.get(f"new_{field}")
            if value:
                setattr(mailbox, field, value)
        if commit:
            mailbox.save()
        return mailbox


class MailboxAddressInline(admin.TabularInline[MailboxAddress, Mailbox]):
    model = MailboxAddress
    extra = 0
    fields = ["address", "is_alias"]
    readonly_fields = ["address", "is_alias"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin[Mailbox]):
    form = MailboxForm
    list_display = ["name", "key", "address", "status", "protocol", "last_sync_at", "last_error"]
    list_filter = ["status"]
    search_fields = ["name", "key", "address", "addresses__address"]
    readonly_fields = (
        "last_sync_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "failed_reason",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "key", "address", "status", "config")}),
        ("Secrets", {"fields": ("new_inbound_secret", "new_outbound_secret")}),
        ("Health", {"fields": readonly_fields}),
    )
    inlines = [MailboxAddressInline]

    @admin.display(description="protocol")
    def protocol(self, mailbox: Mailbox) -> str:
        inbound = (mailbox.config or {}).get("inbound") or {}
        return inbound.get("protocol") or "-"
