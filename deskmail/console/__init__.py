"""The agent console: the web pages agents, supervisors and admins work in.

Function views over the service layer (`deskmail.services`), Django templates
with partials, htmx for in-place updates; every page also works without
JavaScript for reading. No rule about tickets or permissions lives here.
"""
