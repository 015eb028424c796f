"""The console's addresses. Every view here checks who asks (see http.console_view)."""

from __future__ import annotations

from django.urls import path

from deskmail.console.views import auth, lists

urlpatterns = [
    path("", auth.home, name="home"),
    path("sign-out/", auth.sign_out, name="sign-out"),
    path("tickets/", lists.ticket_list, name="tickets"),
    path("tickets/bulk/", lists.bulk_action, name="tickets-bulk"),
    path("tickets/export.csv", lists.export_csv, name="tickets-csv"),
]
