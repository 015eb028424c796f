"""The event log: what happened to tickets, messages and mailboxes, in commit order."""
