"""`deskmail channel [status|off|on] [--reason TEXT] [--as EMAIL] [--json]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from deskmail.cli.common import actor, service_errors
from deskmail.services import channel
from deskmail.services.channel import ChannelState


class Command(BaseCommand):
    help = (
        "The email channel as a whole: `channel off` stops fetching and sending mail "
        "(what is written meanwhile waits in the outbox, forwarded mail is deferred), "
        "`channel on` resumes it without losing anything; `channel status` tells which."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["status", "off", "on"], default="status")
        parser.add_argument("--reason", default="", help="why (shown on every console page)")
        parser.add_argument(
            "--as", dest="as_email", metavar="EMAIL", help="record this admin as who switched it"
        )
        parser.add_argument("--json", action="store_true", help="the state as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        with service_errors():
            who = actor(options["as_email"])
            if action == "status":
                state = channel.state(who)
            else:
                before = channel.state(who)
                state = channel.switch(who, action == "on", options["reason"])
                if before.on == state.on and not options["json"]:
                    self.stdout.write(f"the email channel was already {action}")
        activity = channel.activity()
        if options["json"]:
            self.stdout.write(json.dumps(_data(state, activity), indent=2))
            return
        self.stdout.write(_words(state))
        self.stdout.write(
            f"mailboxes syncing: {activity.syncing}, paused: {activity.paused}; "
            f"mail waiting in the outbox: {activity.waiting_to_send}"
        )


def _words(state: ChannelState) -> str:
    line = f"the email channel is {'on' if state.on else 'off'}"
    if state.changed_at is not None:
        line += f" (switched {'on' if state.on else 'off'} by {state.changed_by or 'unknown'}"
        line += f" at {state.changed_at:%Y-%m-%d %H:%M:%S} UTC)"
    if state.reason:
        line += f": {state.reason}"
    return line


def _data(state: ChannelState, activity: channel.Activity) -> dict[str, object]:
    return {
        "on": state.on,
        "changed_at": state.changed_at.isoformat() if state.changed_at else None,
        "changed_by": state.changed_by or None,
        "reason": state.reason,
        "mailboxes_syncing": activity.syncing,
        "mailboxes_paused": activity.paused,
        "outbox_waiting": activity.waiting_to_send,
    }
