"""The console's addresses. Every view here checks who asks (see http.console_view), but
the sign-in page and a new sender's confirmation link, whose signed token is the proof."""

from __future__ import annotations

from django.urls import path

from deskmail.console.views import (
    accounts,
    auth,
    bodies,
    channel,
    compose,
    confirm,
    files,
    generation,
    handover,
    lists,
    live,
    people,
    tasks,
    tickets,
)

urlpatterns = [
    path("", auth.home, name="home"),
    path("sign-out/", auth.sign_out, name="sign-out"),
    # the list
    path("tickets/", lists.ticket_list, name="tickets"),
    path("tickets/bulk/", lists.bulk_action, name="tickets-bulk"),
    path("tickets/export.csv", lists.export_csv, name="tickets-csv"),
    path("new/", compose.new_ticket, name="new-ticket"),
    path("nav/", handover.nav, name="nav"),
    path("events/", live.events, name="events"),
    path("team/", handover.team, name="team"),
    path("people/", people.people_page, name="people"),
    path("channel/", channel.channel_page, name="channel"),
    path("channel/banner/", channel.channel_banner, name="channel-banner"),
    # email accounts (admins)
    path("accounts/", accounts.account_list, name="accounts"),
    path("accounts/new/", accounts.account_new, name="account-new"),
    path("accounts/new/<slug:kind>/", accounts.account_add, name="account-add"),
    path("accounts/<str:name>/", accounts.account_detail, name="account"),
    path("accounts/<str:name>/edit/", accounts.account_edit, name="account-edit"),
    path("accounts/<str:name>/test/", accounts.account_test, name="account-test"),
    path("accounts/<str:name>/routing/", accounts.account_routing, name="account-routing"),
    path("accounts/<str:name>/connect/", accounts.account_connect, name="account-connect"),
    path("oauth/callback/", accounts.oauth_callback, name="oauth-callback"),
    path("accounts/<str:name>/switch/", accounts.account_switch, name="account-switch"),
    path("accounts/<str:name>/delete/", accounts.account_delete, name="account-delete"),
    path("settings/notifications/", handover.notification_settings, name="notification-settings"),
    path("settings/generation/", generation.generation_settings, name="generation-settings"),
    # one ticket
    path("t/<int:number>/", tickets.ticket_view, name="ticket"),
    path("t/<int:number>/field/<slug:field>/", tickets.ticket_field, name="ticket-field"),
    path("t/<int:number>/unread/", tickets.mark_unread, name="ticket-unread"),
    path("t/<int:number>/delete/", tickets.delete_ticket, name="ticket-delete"),
    path("t/<int:number>/merge/", tickets.merge_ticket, name="ticket-merge"),
    path("t/<int:number>/split/<int:message>/", tickets.split_message, name="ticket-split"),
    path("t/<int:number>/merges/<int:merge>/undo/", tickets.undo_merge, name="merge-undo"),
    path("t/<int:number>/thread.zip", tickets.thread_zip, name="ticket-zip"),
    path("t/<int:number>/transfer/", handover.transfer, name="ticket-transfer"),
    path("t/<int:number>/accept/", handover.accept_transfer, name="ticket-accept"),
    path("t/<int:number>/snooze/", handover.snooze, name="ticket-snooze"),
    # tasks for colleagues and outside people
    path("t/<int:number>/tasks/", tasks.task_panel, name="ticket-tasks"),
    path("t/<int:number>/tasks/<int:task>/status/", tasks.task_status, name="task-status"),
    path("t/<int:number>/tasks/<int:task>/seen/", tasks.task_seen, name="task-seen"),
    path(
        "t/<int:number>/tasks/<int:task>/replies/<int:entry>/body/",
        tasks.task_reply_body,
        name="task-reply-body",
    ),
    # answering
    path("t/<int:number>/reply/", compose.send_reply, name="ticket-reply"),
    path("t/<int:number>/note/", compose.add_note, name="ticket-note"),
    path("t/<int:number>/forward/", compose.forward_message, name="ticket-forward"),
    path("t/<int:number>/draft/", compose.save_draft, name="ticket-draft"),
    path("t/<int:number>/presence/", compose.presence, name="ticket-presence"),
    path(
        "t/<int:number>/suggestions/<int:suggestion>/draft/",
        compose.suggestion_draft,
        name="suggestion-draft",
    ),
    path(
        "t/<int:number>/suggestions/rewrite/",
        compose.suggestion_rewrite,
        name="suggestion-rewrite",
    ),
    path(
        "t/<int:number>/rewrites/<int:rewrite>/draft/",
        compose.rewrite_draft,
        name="rewrite-draft",
    ),
    path(
        "t/<int:number>/suggestions/<int:suggestion>/vote/",
        compose.suggestion_vote,
        name="suggestion-vote",
    ),
    path("outbox/<int:outbox>/undo/", compose.undo_send, name="outbox-undo"),
    path("outbox/<int:outbox>/retry/", compose.retry_outbox, name="outbox-retry"),
    # a message's content and files
    path("m/<int:message>/body/", bodies.message_body, name="message-body"),
    path("m/<int:message>/trust-sender/", bodies.trust_sender, name="message-trust-sender"),
    path("kept/", bodies.kept_mail, name="kept-mail"),
    # Public: a new sender's confirmation link (the signed token is the proof).
    path("confirm/<str:token>/", confirm.confirm_sender, name="confirm-sender"),
    path("m/<int:message>/trace/", bodies.message_trace, name="message-trace"),
    path("m/<int:message>/raw.eml", bodies.raw_message, name="message-raw"),
    path("attachments/<int:attachment>/", files.attachment_download, name="attachment"),
    path(
        "attachments/<int:attachment>/preview/", files.attachment_preview, name="attachment-preview"
    ),
    path("attachments/<int:attachment>/inline/", files.attachment_inline, name="attachment-inline"),
]
