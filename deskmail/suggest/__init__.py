"""Suggested answers: an index of what the team already wrote, and a lexical ranking over it.

The index holds one (question, answer) pair per resolved ticket (the customer's last
message before the resolving reply, and that reply) and one per canned answer. It is
kept in step by signals when a ticket is resolved or a canned answer changes, and
rebuilt by `deskmail suggestions reindex`. Who may see which pair is the services'
business (`deskmail.services.suggestions`); this package only stores and ranks.
"""
