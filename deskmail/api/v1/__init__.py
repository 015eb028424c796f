"""Version 1 of the API: one router per resource, each thin over the service layer."""
