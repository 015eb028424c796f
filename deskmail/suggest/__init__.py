"""Suggested answers: an index of what the team already wrote, ranked by words and meaning.

The index holds one (question, answer) pair per resolved ticket (the customer's last
message before the resolving reply, and that reply) and one per canned answer. It is
kept in step by signals when a ticket is resolved or a canned answer changes, and
rebuilt by `deskmail suggestions reindex`. Who may see which pair is the services'
business (`deskmail.services.suggestions`); this package only stores and ranks.

Ranking: BM25 over a word index in the database (`rank`), fused by reciprocal rank
with the cosine of sentence vectors (`encoder`: all-MiniLM-L6-v2 in numpy, from an
installed package); without that package, BM25 alone.
"""
