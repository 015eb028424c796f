"""The REST API (django-ninja) under /api/: thin over `deskmail.services`."""
