"""Full-text search over messages: subject, sender and body.

PostgreSQL: a generated, stored tsvector column `search_document` with a GIN
index (the 'simple' configuration: no stemming, so that mail in any language
is found by its words; prefixes match through the query). Stored, so that a
search matching most mail never computes to_tsvector again row by row when
the bitmap of matches gets lossy. The model does not know the column: the
database fills it on every insert and update. SQLite: an FTS5 table kept in
step by triggers, so that every writer (the pipeline, the outbox, imports)
feeds it without knowing.

The expression and the table are read by deskmail.services.search; change
them together. On SQLite a later migration that rebuilds tickets_message
(Django does that for some column changes) drops the triggers with the old
table: recreate them after such a migration (the search tests would fail).
"""

from django.db import migrations

# The indexed text on PostgreSQL.
PG_DOCUMENT = (
    "coalesce(subject, '') || ' ' || coalesce(from_name, '') || ' ' || "
    "coalesce(from_address, '') || ' ' || replace(coalesce(from_address, ''), '@', ' ') || ' ' || "
    "left(coalesce(body_text, ''), 100000)"
)
FTS_COLUMNS = "subject, sender, body"
FTS_NEW = "new.id, new.subject, new.from_name || ' ' || new.from_address, new.body_text"
FTS_OLD = "old.id, old.subject, old.from_name || ' ' || old.from_address, old.body_text"

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE tickets_message_fts USING fts5("
    f"{FTS_COLUMNS}, content='', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER tickets_message_fts_insert AFTER INSERT ON tickets_message BEGIN "
    f"INSERT INTO tickets_message_fts(rowid, {FTS_COLUMNS}) VALUES ({FTS_NEW}); END",
    "CREATE TRIGGER tickets_message_fts_delete AFTER DELETE ON tickets_message BEGIN "
    f"INSERT INTO tickets_message_fts(tickets_message_fts, rowid, {FTS_COLUMNS}) "
    f"VALUES ('delete', {FTS_OLD}); END",
    "CREATE TRIGGER tickets_message_fts_update AFTER UPDATE OF subject, from_name, "
    "from_address, body_text ON tickets_message BEGIN "
    f"INSERT INTO tickets_message_fts(tickets_message_fts, rowid, {FTS_COLUMNS}) "
    f"VALUES ('delete', {FTS_OLD}); "
    f"INSERT INTO tickets_message_fts(rowid, {FTS_COLUMNS}) VALUES ({FTS_NEW}); END",
    f"INSERT INTO tickets_message_fts(rowid, {FTS_COLUMNS}) "
    "SELECT id, subject, from_name || ' ' || from_address, body_text FROM tickets_message",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS tickets_message_fts_insert",
    "DROP TRIGGER IF EXISTS tickets_message_fts_delete",
    "DROP TRIGGER IF EXISTS tickets_message_fts_update",
    "DROP TABLE IF EXISTS tickets_message_fts",
]
PG_FORWARD = [
    "ALTER TABLE tickets_message ADD COLUMN search_document tsvector "
    f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {PG_DOCUMENT})) STORED",
    "CREATE INDEX message_fulltext ON tickets_message USING gin (search_document)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS message_fulltext",
    "ALTER TABLE tickets_message DROP COLUMN IF EXISTS search_document",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("tickets", "0004_console_state")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": PG_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": PG_BACKWARD}),
        )
    ]
