"""Webhooks: the event log, delivered to other systems over signed HTTP POSTs.

    fanout.fan_out()        the event log -> one delivery row per (endpoint, event)
    send.deliver_due()      what the worker calls: fan out, then send what is due

See `send` for retries, ordering and disabling, `addresses` for where we refuse
to connect, and `signing` for the signature a receiver checks.
"""
