"""Suggested answers: hit rate of the word, meaning and fused rankings, latency, memory.

Each run is a child process on a fresh database (a new SQLite data folder, or a
PostgreSQL database `deskmail_suggest_bench` created anew). A helpdesk history of
PAIRS resolved tickets is written in bulk over the PROBLEMS below, a third of the
customers writing in German (and answered in German); each question is built from
a frame, a way to name the thing and a way to say what is wrong with it. The last
wording of each list is held out: the QUERIES new tickets always use at least one
held-out wording, as a customer who puts it differently would. `deskmail suggestions
reindex`'s code builds the index (pairs per second, sentence vectors included).

For each new ticket the pairs an agent may see are ranked by words (BM25), by meaning
(sentence vectors) and by both fused, as the service does; a hit is the problem's
answer in the customer's language first (top-1) or among the three shown (top-3),
the same answer given on many tickets counted once. Latency: the service the console
and the API call, end to end. Memory: the child's peak resident size, and what loading
the sentence model added to it.

    python -m bench.suggest_bench [PAIRS]
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from typing import Any

from bench.children import measure_in_child

PAIRS = 360
QUERIES = 90
BENCH_DB = "deskmail_suggest_bench"
GERMAN_SHARE = 1 / 3

# (English things, English troubles, German things, German troubles, answer EN, answer DE);
# each list's last wording only ever appears in the held-out questions.
PROBLEMS: list[tuple[list[str], list[str], list[str], list[str], str, str]] = [
    (
        ["the printer", "the printer on floor 2", "the copier"],
        ["has a paper jam", "keeps jamming", "has sheets stuck inside"],
        ["der Drucker", "der Drucker im zweiten Stock", "das Kopiergerät"],
        ["hat einen Papierstau", "klemmt ständig", "zieht die Blätter nicht mehr ein"],
        "Open tray 2, remove the crumpled sheet and close the tray firmly.",
        "Öffnen Sie Fach 2, entfernen Sie das zerknitterte Blatt und schließen Sie es fest.",
    ),
    (
        ["my password", "my login", "my sign-in"],
        ["does not work any more", "was rejected", "is not accepted, I am locked out"],
        ["mein Passwort", "meine Anmeldung", "mein Kennwort"],
        ["funktioniert nicht mehr", "wird abgelehnt", "wird nicht akzeptiert, ich bin gesperrt"],
        "Use 'Forgot password' on the sign-in page; the reset link is valid for one hour.",
        "Nutzen Sie 'Passwort vergessen' auf der Anmeldeseite; der Link gilt eine Stunde.",
    ),
    (
        ["my invoice", "the bill for March", "last month's statement"],
        ["is missing", "never arrived", "cannot be found anywhere"],
        ["meine Rechnung", "die Rechnung für März", "die Abrechnung vom letzten Monat"],
        ["fehlt", "ist nie angekommen", "ist nirgends zu finden"],
        "Invoices are under Billing > Documents; I have also sent you a copy.",
        "Rechnungen finden Sie unter Abrechnung > Dokumente; eine Kopie ist unterwegs.",
    ),
    (
        ["the wifi", "the wireless network", "the internet connection"],
        ["keeps dropping", "is very slow", "disconnects every few minutes"],
        ["das WLAN", "das Funknetz", "die Internetverbindung"],
        ["bricht ständig ab", "ist sehr langsam", "trennt sich alle paar Minuten"],
        "Restart the router, then forget and re-join the network 'Office-5G'.",
        "Starten Sie den Router neu und verbinden Sie sich erneut mit 'Office-5G'.",
    ),
    (
        ["my parcel", "my order", "the package I ordered"],
        ["has not been delivered", "is late", "still has not shown up"],
        ["mein Paket", "meine Bestellung", "die bestellte Sendung"],
        ["wurde nicht geliefert", "ist verspätet", "ist immer noch nicht da"],
        "Your parcel is with the carrier; the tracking link in your order email shows the day.",
        "Ihr Paket ist beim Zusteller; der Link in der Bestellmail zeigt den Liefertag.",
    ),
    (
        ["I", "we", "my colleague"],
        ["want a refund", "would like our money back", "want to return it and be reimbursed"],
        ["ich", "wir", "mein Kollege"],
        ["möchte eine Rückerstattung", "hätten gern das Geld zurück", "will es zurückgeben"],
        "Refunds: send the item back within 30 days with the return label; we pay in 5 days.",
        "Erstattung: Ware binnen 30 Tagen mit dem Retourenschein zurück; Zahlung in 5 Tagen.",
    ),
    (
        ["the VPN", "the remote access", "the tunnel to the office"],
        ["will not connect", "fails with a certificate error", "cannot be reached from home"],
        ["das VPN", "der Fernzugriff", "der Tunnel ins Büro"],
        ["verbindet nicht", "meldet einen Zertifikatsfehler", "ist von zu Hause nicht erreichbar"],
        "Install the new VPN profile from the portal; the old certificate expired on Monday.",
        "Installieren Sie das neue VPN-Profil aus dem Portal; das alte Zertifikat ist abgelaufen.",
    ),
    (
        ["my laptop battery", "the notebook battery", "the charge of my computer"],
        ["drains quickly", "does not charge", "lasts barely an hour"],
        ["der Laptop-Akku", "der Notebook-Akku", "die Ladung meines Rechners"],
        ["ist schnell leer", "lädt nicht", "hält kaum eine Stunde"],
        "Run the battery check in the support app; if it reports 'replace', we send a new one.",
        "Starten Sie den Akkutest in der Support-App; bei 'ersetzen' schicken wir einen neuen.",
    ),
    (
        ["my subscription", "the yearly plan", "our membership"],
        ["should be cancelled", "must end this month", "is no longer needed, please stop it"],
        ["mein Abonnement", "der Jahresvertrag", "unsere Mitgliedschaft"],
        ["soll gekündigt werden", "muss diesen Monat enden", "wird nicht mehr gebraucht"],
        "I have cancelled it as of the end of this billing period; no further charges.",
        "Ich habe zum Ende des Abrechnungszeitraums gekündigt; es fällt nichts mehr an.",
    ),
    (
        ["the calendar", "my meeting invitations", "the shared agenda"],
        ["does not sync to my phone", "are missing on mobile", "is out of date on my mobile"],
        ["der Kalender", "meine Termineinladungen", "der geteilte Terminplan"],
        ["synchronisiert nicht aufs Handy", "fehlen auf dem Telefon", "ist am Handy veraltet"],
        "Remove the account on the phone and add it again with 'Exchange', not 'IMAP'.",
        "Entfernen Sie das Konto am Telefon und fügen Sie es als 'Exchange' neu hinzu.",
    ),
    (
        ["the screen", "my monitor", "the display"],
        ["flickers", "stays black", "shows nothing after I plug it in"],
        ["der Bildschirm", "mein Monitor", "die Anzeige"],
        ["flackert", "bleibt schwarz", "zeigt nach dem Einstecken nichts an"],
        "Check the cable is the USB-C one from the dock, then press Win+P and pick 'Extend'.",
        "Nutzen Sie das USB-C-Kabel des Docks und wählen Sie mit Win+P 'Erweitern'.",
    ),
    (
        ["the discount code", "my voucher", "the coupon from your newsletter"],
        ["is not accepted", "shows as invalid", "gets refused at checkout"],
        ["der Rabattcode", "mein Gutschein", "der Coupon aus dem Newsletter"],
        ["wird nicht akzeptiert", "gilt als ungültig", "wird an der Kasse abgelehnt"],
        "Codes apply to full-price items only; I have credited the amount to your account.",
        "Codes gelten nur für reguläre Artikel; ich habe den Betrag Ihrem Konto gutgeschrieben.",
    ),
]
FRAMES_EN = [
    "Hello, {thing} {trouble}.",
    "Hi team, since this morning {thing} {trouble}. Can you help?",
    "{thing} {trouble} again, what should I do?",
    "Urgent: {thing} {trouble}!",
    "Good afternoon, I noticed that {thing} {trouble}. Regards, Ann",
]
FRAMES_DE = [
    "Hallo, {thing} {trouble}.",
    "Guten Tag, seit heute früh gilt: {thing} {trouble}. Können Sie helfen?",
    "Dringend: {thing} {trouble}!",
    "Hallo zusammen, {thing} {trouble}, was soll ich tun?",
]


def _question(rng: random.Random, problem: int, german: bool, held_out: bool) -> str:
    things_en, troubles_en, things_de, troubles_de, _, _ = PROBLEMS[problem]
    things, troubles = (things_de, troubles_de) if german else (things_en, troubles_en)
    frame = rng.choice(FRAMES_DE if german else FRAMES_EN)
    if held_out:
        # At least one wording the history never used.
        thing, trouble = rng.choice(
            [(things[-1], rng.choice(troubles)), (rng.choice(things), troubles[-1])]
        )
    else:
        thing, trouble = rng.choice(things[:-1]), rng.choice(troubles[:-1])
    text = frame.format(thing=thing, trouble=trouble)
    return text[0].upper() + text[1:]


def _generate(pairs: int) -> dict[str, Any]:
    import datetime as dt

    from django.utils import timezone

    from deskmail.services import people
    from deskmail.services.access import SYSTEM, Role
    from deskmail.testing.builders import make_mailbox
    from deskmail.tickets.models import Counter, Message, Ticket

    rng = random.Random(11)
    north = make_mailbox("north", "NO", "north@bench.example")
    agent = people.create_user(SYSTEM, "agent@bench.example", Role.AGENT, mailboxes=["north"])
    start = timezone.now() - dt.timedelta(days=365)
    wanted: dict[int, tuple[str, str]] = {}
    total = pairs + QUERIES
    tickets = Ticket.objects.bulk_create(
        Ticket(
            number=n + 1,
            mailbox=north,
            title="Question",
            status="resolved" if n < pairs else "open",
            first_mail_at=start + dt.timedelta(minutes=5 * n),
        )
        for n in range(total)
    )
    messages = []
    for n, ticket in enumerate(tickets):
        problem = n % len(PROBLEMS)
        german = rng.random() < GERMAN_SHARE
        answer = PROBLEMS[problem][5 if german else 4]
        when = ticket.first_mail_at
        question = _question(rng, problem, german, held_out=n >= pairs)
        messages.append(
            Message(
                ticket=ticket,
                mailbox=north,
                message_id=f"q{n}@bench.example",
                body_text=question,
                reply_text=question,
                raw_sha256="0" * 64,
                received_at=when,
            )
        )
        if n < pairs:
            messages.append(
                Message(
                    ticket=ticket,
                    mailbox=north,
                    direction="out",
                    message_id=f"a{n}@bench.example",
                    body_text=answer,
                    reply_text=answer,
                    raw_sha256="0" * 64,
                    received_at=when + dt.timedelta(hours=1),
                )
            )
        else:
            wanted[ticket.number] = ("de" if german else "en", answer)
    Message.objects.bulk_create(messages, batch_size=5_000)
    Counter.objects.update_or_create(name="ticket", defaults={"value": total})
    return {"agent": agent.pk, "wanted": wanted}


def _percentiles(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {"p50": timings[len(timings) // 2], "p95": timings[int(len(timings) * 0.95) - 1]}


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(pairs: int) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from deskmail.services import access, suggestions
    from deskmail.services.access import SYSTEM
    from deskmail.suggest import encoder
    from deskmail.suggest.models import Pair
    from deskmail.suggest.rank import fused, rank, semantic

    call_command("migrate", verbosity=0)
    made = _generate(pairs)
    before_model = _rss_mib()
    if encoder.get() is None:
        raise SystemExit("the sentence model is not installed (make install)")
    model_mib = _rss_mib() - before_model
    started = time.perf_counter()
    for _ in suggestions.reindex(SYSTEM):
        pass
    index_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    agent = access.actor_for(get_user_model().objects.get(pk=made["agent"]))
    answers = dict(Pair.objects.values_list("id", "answer"))
    rankings = {"words (BM25)": rank, "meaning (vectors)": semantic, "fused": fused}
    hits = {name: {"en": [0, 0, 0], "de": [0, 0, 0]} for name in rankings}
    timings: list[float] = []
    for number, (language, right) in made["wanted"].items():
        ticket = access.ticket(agent, number)
        question = suggestions.latest_question(ticket)
        assert question is not None
        pairs_seen = suggestions.visible_pairs(agent, ticket)
        for name, ranking in rankings.items():
            texts = list(
                dict.fromkeys(answers[h.pair_id] for h in ranking(question.reply_text, pairs_seen))
            )[:3]
            counts = hits[name][language]
            counts[0] += bool(texts) and texts[0] == right
            counts[1] += right in texts
            counts[2] += 1
        began = time.perf_counter()
        suggestions.for_ticket(agent, ticket)
        timings.append((time.perf_counter() - began) * 1000)
    quality = {}
    for name, by in hits.items():
        both = [by["en"][i] + by["de"][i] for i in range(3)]
        quality[name] = {
            lang: {"top1": c[0] / c[2], "top3": c[1] / c[2]}
            for lang, c in (("en", by["en"]), ("de", by["de"]), ("all", both))
        }
    return {
        "pairs": Pair.objects.count(),
        "queries": {lang: hits["fused"][lang][2] for lang in ("en", "de")},
        "index_per_s": pairs / index_s,
        "latency": _percentiles(timings),
        "quality": quality,
        "model_mib": model_mib,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(database: str, pairs: int) -> dict[str, Any]:
    return measure_in_child("bench.suggest_bench", [str(pairs)], database, BENCH_DB)


def run(pairs: int = PAIRS) -> str:
    lines = [
        "## Suggested answers: words, meaning and both",
        "",
        f"{pairs:,} resolved tickets over {len(PROBLEMS)} recurring problems, about a third",
        "of the customers writing in German and answered in German; each question is a frame,",
        "a way to name the thing and a way to say what is wrong, and the new tickets always use",
        "a wording the history never did. The index (with sentence vectors) is built by",
        "`deskmail suggestions reindex`'s code. For each new ticket the pairs the agent may see",
        "are ranked by words (BM25), by meaning (all-MiniLM-L6-v2 vectors, cosine) and by both",
        "(reciprocal rank fusion, as the service does): top-1 / top-3 is how often the",
        "problem's answer, in the customer's language, is first or among the three shown.",
        "Latency: the suggestions of one ticket through the service the console and the API",
        "call (access, ranking, the three stored per person), milliseconds p50 / p95. Memory:",
        "the child process's peak resident size, and what loading the model added.",
        "Generated questions: a measure of the rankings' sense, not of quality on real mail.",
        "",
    ]
    results = {database: _run(database, pairs) for database in ("SQLite", "PostgreSQL")}
    lines += [
        "| database | indexing | suggestions p50 / p95 | model loaded | peak memory |",
        "|---|---:|---:|---:|---:|",
    ]
    quality: tuple[str, dict[str, Any]] | None = None
    for database, result in results.items():
        if "error" in result:
            lines.append(f"| {database} | not measured: {result['error']} | | | |")
            continue
        quality = quality or (database, result)
        lines.append(
            f"| {database} | {result['index_per_s']:,.0f} pairs/s "
            f"| {result['latency']['p50']:.1f} / {result['latency']['p95']:.1f} ms "
            f"| +{result['model_mib']:.0f} MiB | {result['peak_mib']:.0f} MiB |"
        )
    if quality is not None:
        database, measured = quality
        queries = measured["queries"]
        lines += [
            "",
            f"Hit rates on {database} ({queries['en']} English and {queries['de']} German "
            "new tickets):",
            "",
            "| ranking | English top-1 / top-3 | German top-1 / top-3 | all top-1 / top-3 |",
            "|---|---:|---:|---:|",
        ]
        for name, by in measured["quality"].items():
            cells = " | ".join(
                f"{by[lang]['top1']:.2f} / {by[lang]['top3']:.2f}" for lang in ("en", "de", "all")
            )
            lines.append(f"| {name} | {cells} |")
    from bench import suggest_scale

    return "\n".join([*lines, "", suggest_scale.run()])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else PAIRS))
