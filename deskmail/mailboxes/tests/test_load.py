import pytest

from deskmail.mailboxes.exporting import export_yaml
from deskmail.mailboxes.loading import LoadRefused
from deskmail.mailboxes.models import Mailbox, MailboxAddress
from deskmail.mailboxes.services import mailbox_for_address
from deskmail.mailboxes.tests.conftest import SECRETS, load

ONE = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    status: active
    aliases: [help@example.com]
    inbound:
      protocol: imap
      host: imap.example.com
      password_env: SUPPORT_IMAP_PASSWORD
"""


def refused(text: str, **kwargs) -> list[str]:
    with pytest.raises(LoadRefused) as caught:
        load(text, **kwargs)
    return caught.value.lines()


@pytest.mark.django_db
def test_it_creates_mailboxes_from_the_design_example(design_example):
    outcomes = load(design_example)

    assert [(o.name, o.key, o.action) for o in outcomes] == [
        ("support", "SUP", "created"),
        ("sales", "SAL", "created"),
    ]
    support = Mailbox.objects.get(name="support")
    assert support.status == "active"
    assert support.settings.inbound.port == 993
    assert support.settings.tickets.field_mappings[0].source == "importance"
    assert support.inbound_secret == SECRETS["SUPPORT_IMAP_PASSWORD"]
    assert support.outbound_secret == SECRETS["SUPPORT_SMTP_PASSWORD"]
    sales = Mailbox.objects.get(name="sales")
    assert (sales.address, sales.status) == ("sales@example.com", "draft")
    assert sales.settings.filters.sender_rate_limit is None


@pytest.mark.django_db
def test_it_round_trips_through_export_unchanged(design_example):
    load(design_example)
    before = {m.name: (m.config, m.status, m.updated_at) for m in Mailbox.objects.all()}
    exported = export_yaml(Mailbox.objects.all())

    outcomes = load(exported)

    assert {o.action for o in outcomes} == {"unchanged"}
    after = {m.name: (m.config, m.status, m.updated_at) for m in Mailbox.objects.all()}
    assert after == before
    assert export_yaml(Mailbox.objects.all()) == exported


@pytest.mark.django_db
def test_it_keeps_a_switched_off_setting_off_through_export(design_example):
    load(design_example)
    exported = export_yaml(Mailbox.objects.filter(name="sales"))
    assert "sender_rate_limit: null" in exported
    assert "identity_rule" not in exported
    assert "aliases" not in exported


@pytest.mark.django_db
def test_it_updates_a_mailbox_matched_by_name():
    load(ONE)
    created = Mailbox.objects.get()
    load(ONE.replace("imap.example.com", "mail.example.com").replace("status: active", ""))
    mailbox = Mailbox.objects.get()
    assert mailbox.pk == created.pk
    assert mailbox.settings.inbound.host == "mail.example.com"
    assert mailbox.status == "draft"


@pytest.mark.django_db
def test_it_writes_nothing_when_the_file_is_unchanged():
    load(ONE)
    before = Mailbox.objects.get().updated_at
    assert [o.action for o in load(ONE)] == ["unchanged"]
    assert Mailbox.objects.get().updated_at == before


@pytest.mark.django_db
def test_it_updates_when_only_a_secret_changed():
    load(ONE)
    outcomes = load(ONE, env={"SUPPORT_IMAP_PASSWORD": "rotated-password"})
    assert [o.action for o in outcomes] == ["updated"]
    assert Mailbox.objects.get().inbound_secret == "rotated-password"


@pytest.mark.django_db
def test_it_keeps_a_failed_mailbox_failed_when_the_same_file_is_reloaded():
    load(ONE)
    Mailbox.objects.update(status="failed", failed_reason="login refused", consecutive_failures=3)
    load(ONE)
    assert Mailbox.objects.get().status == "failed"

    load(ONE.replace("imap.example.com", "mail.example.com"))
    mailbox = Mailbox.objects.get()
    assert (mailbox.status, mailbox.failed_reason, mailbox.consecutive_failures) == (
        "active",
        "",
        0,
    )


@pytest.mark.django_db
def test_it_keeps_address_rows_in_step_with_address_and_aliases():
    load(ONE)
    rows = dict(MailboxAddress.objects.values_list("address", "is_alias"))
    assert rows == {"support@example.com": False, "help@example.com": True}

    load(ONE.replace("[help@example.com]", "[desk@example.com, helpdesk@example.com]"))
    rows = dict(MailboxAddress.objects.values_list("address", "is_alias"))
    assert rows == {
        "support@example.com": False,
        "desk@example.com": True,
        "helpdesk@example.com": True,
    }


@pytest.mark.django_db
def test_it_moves_an_alias_between_mailboxes_of_one_file():
    template = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    aliases: {support}
  - name: sales
    key: SAL
    address: sales@example.com
    aliases: {sales}
"""
    load(template.format(support="[]", sales="[shop@example.com]"))
    # The mailbox that takes the alias comes first in the file, before the other lets go.
    load(template.format(support="[shop@example.com]", sales="[]"))
    row = MailboxAddress.objects.get(address="shop@example.com")
    assert (row.mailbox.name, row.is_alias) == ("support", True)


@pytest.mark.django_db
def test_it_leaves_a_stored_secret_alone_when_no_password_env_is_given():
    load(ONE)
    load(ONE.replace("      password_env: SUPPORT_IMAP_PASSWORD\n", ""))
    assert Mailbox.objects.get().inbound_secret == SECRETS["SUPPORT_IMAP_PASSWORD"]


# Errors: each names the file's line and the field path.


@pytest.mark.django_db
def test_it_names_line_and_field_of_an_out_of_range_value():
    text = ONE.replace(
        "      host: imap.example.com\n", "      host: imap.example.com\n      port: 99999\n"
    )
    assert refused(text) == [
        "mailboxes.yaml:10: mailboxes[0].inbound.port: Input should be less than or equal to 65535"
    ]


@pytest.mark.django_db
def test_it_names_line_and_field_of_an_unknown_key():
    text = ONE.replace("    status: active\n", "    status: active\n    colour: blue\n")
    assert refused(text) == [
        "mailboxes.yaml:6: mailboxes[0].colour: Extra inputs are not permitted"
    ]


@pytest.mark.django_db
def test_it_names_the_mailbox_line_for_a_missing_field():
    text = ONE.replace("    key: SUP\n", "")
    assert refused(text) == ["mailboxes.yaml:2: mailboxes[0].key: Field required"]


@pytest.mark.django_db
def test_it_names_line_and_field_of_a_wrong_type():
    text = ONE.replace(
        "    aliases: [help@example.com]\n", "    aliases: [help@example.com, 'nope']\n"
    )
    [line] = refused(text)
    assert line.startswith("mailboxes.yaml:6: mailboxes[0].aliases: ")
    assert "'nope' is not an email address" in line


@pytest.mark.django_db
def test_it_names_line_and_field_of_a_bad_item_in_a_list():
    text = ONE + "    filters:\n      sender_rate_limit: {max: 0}\n"
    assert refused(text) == [
        "mailboxes.yaml:12: mailboxes[0].filters.sender_rate_limit.max: "
        "Input should be greater than or equal to 1"
    ]


@pytest.mark.django_db
def test_it_refuses_failed_status_with_a_clear_message():
    [line] = refused(ONE.replace("status: active", "status: failed"))
    assert line.startswith("mailboxes.yaml:5: mailboxes[0].status: 'failed' is set by deskmail")
    assert "use draft, active or disabled" in line


@pytest.mark.django_db
def test_it_reports_every_error_of_the_file_at_once():
    text = ONE.replace("key: SUP", "key: TOOLONG").replace(
        "host: imap.example.com", "host: imap.example.com\n      poll_seconds: 0"
    )
    assert refused(text) == [
        "mailboxes.yaml:3: mailboxes[0].key: String should have at most 5 characters",
        "mailboxes.yaml:10: mailboxes[0].inbound.poll_seconds: "
        "Input should be greater than or equal to 1",
    ]


@pytest.mark.django_db
def test_it_names_the_line_of_a_yaml_syntax_error():
    [line] = refused(ONE.replace("aliases: [help@example.com]", "aliases: [help@example.com"))
    assert line.startswith("mailboxes.yaml:7: not valid YAML:")


@pytest.mark.django_db
def test_it_refuses_a_key_given_twice_in_one_mapping():
    text = ONE.replace("    status: active\n", "    status: active\n    status: draft\n")
    assert refused(text) == [
        "mailboxes.yaml:6: mailboxes[0].status: duplicate key (first given on line 5)"
    ]


@pytest.mark.django_db
def test_it_refuses_an_empty_file():
    assert refused("") == ["mailboxes.yaml:1: the file is empty; expected a `mailboxes:` list"]


@pytest.mark.django_db
def test_it_refuses_duplicate_names_keys_and_addresses_in_one_file_naming_both():
    text = (
        ONE
        + """\
  - name: support
    key: sup
    address: help@example.com
    aliases: [Support@example.com, other@example.com, other@example.com]
"""
    )
    assert refused(text) == [
        "mailboxes.yaml:11: mailboxes[1].name: 'support' is also the name of "
        "mailboxes[0] 'support' (line 2)",
        "mailboxes.yaml:12: mailboxes[1].key: 'SUP' is also the key of "
        "mailboxes[0] 'support' (line 2)",
        "mailboxes.yaml:13: mailboxes[1].address: 'help@example.com' is also an alias of "
        "mailboxes[0] 'support' (line 2)",
        "mailboxes.yaml:14: mailboxes[1].aliases[0]: 'support@example.com' is also the address "
        "of mailboxes[0] 'support' (line 2)",
        "mailboxes.yaml:14: mailboxes[1].aliases[2]: 'other@example.com' is already an alias "
        "of this mailbox",
    ]


@pytest.mark.django_db
def test_it_refuses_keys_and_addresses_of_other_mailboxes_in_the_database():
    load(
        """\
        mailboxes:
          - name: sales
            key: SAL
            address: sales@example.com
            aliases: [help@example.com]
        """
    )
    text = ONE.replace("key: SUP", "key: SAL").replace(
        "address: support@example.com", "address: sales@example.com"
    )
    assert refused(text) == [
        "mailboxes.yaml:3: mailboxes[0].key: 'SAL' is already the key of mailbox 'sales' "
        "in the database",
        "mailboxes.yaml:4: mailboxes[0].address: 'sales@example.com' is already the address "
        "of mailbox 'sales' in the database",
        "mailboxes.yaml:6: mailboxes[0].aliases[0]: 'help@example.com' is already an alias "
        "of mailbox 'sales' in the database",
    ]


@pytest.mark.django_db
def test_it_applies_nothing_when_any_mailbox_has_an_error(design_example):
    load(ONE)
    before = Mailbox.objects.get()
    bad = design_example.replace("max_attachments: 5", "max_attachments: -1")
    with pytest.raises(LoadRefused):
        load(bad)
    assert list(Mailbox.objects.values_list("name", flat=True)) == ["support"]
    after = Mailbox.objects.get()
    assert (after.config, after.updated_at) == (before.config, before.updated_at)
    assert set(MailboxAddress.objects.values_list("address", flat=True)) == {
        "support@example.com",
        "help@example.com",
    }


# Secrets.


@pytest.mark.django_db
def test_it_refuses_an_unset_password_variable_when_it_cannot_ask():
    assert refused(ONE, env={}) == [
        "mailboxes.yaml:10: mailboxes[0].inbound.password_env: environment variable "
        "SUPPORT_IMAP_PASSWORD is not set (or empty); set it, or run the command on a "
        "terminal to be asked for the password"
    ]
    assert not Mailbox.objects.exists()


@pytest.mark.django_db
def test_it_asks_for_an_unset_password_once_per_variable():
    asked = []

    def prompt(question: str) -> str:
        asked.append(question)
        return "typed-secret"

    text = (
        ONE
        + "    outbound:\n      host: smtp.example.com\n      password_env: SUPPORT_IMAP_PASSWORD\n"
    )
    load(text, env={}, prompt=prompt)

    assert asked == ["inbound password for mailbox support ($SUPPORT_IMAP_PASSWORD): "]
    mailbox = Mailbox.objects.get()
    assert mailbox.inbound_secret == mailbox.outbound_secret == "typed-secret"


@pytest.mark.django_db
def test_it_does_not_ask_for_secrets_when_the_file_has_errors():
    def prompt(question: str) -> str:
        raise AssertionError("asked")

    assert refused(ONE.replace("key: SUP", "key: TOOLONG"), env={}, prompt=prompt) == [
        "mailboxes.yaml:3: mailboxes[0].key: String should have at most 5 characters"
    ]


@pytest.mark.django_db
def test_it_reports_unset_variables_with_the_other_errors_when_it_cannot_ask():
    text = ONE.replace("[help@example.com]", "[help@example.com, help@example.com]")
    lines = refused(text, env={})
    assert [line.split(": ")[0] for line in lines] == ["mailboxes.yaml:6", "mailboxes.yaml:10"]


@pytest.mark.django_db
def test_it_lets_two_mailboxes_of_one_file_swap_keys_and_addresses():
    template = """\
mailboxes:
  - name: support
    key: {first}
    address: support@example.com
  - name: sales
    key: {second}
    address: {second}@example.com
"""
    template = template.replace("address: support@example.com", "address: {first}@example.com")
    load(template.format(first="SUP", second="SAL"))
    load(template.format(first="SAL", second="SUP"))
    swapped = {m.name: (m.key, m.address) for m in Mailbox.objects.all()}
    assert swapped == {"support": ("SAL", "sal@example.com"), "sales": ("SUP", "sup@example.com")}
    assert mailbox_for_address("sal@example.com")[0].name == "support"


@pytest.mark.django_db
def test_it_exports_a_failed_mailbox_with_its_configured_status():
    load(ONE)
    Mailbox.objects.update(status="failed")
    exported = export_yaml(Mailbox.objects.all())
    assert "status: active" in exported and "failed" not in exported
    assert [o.action for o in load(exported)] == ["unchanged"]
    assert Mailbox.objects.get().status == "failed"


BILLION_LAUGHS = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 9)}]\n" for n in range(8)
)


@pytest.mark.django_db
def test_it_refuses_an_alias_expansion_bomb_naming_the_line():
    """A 1 KB file whose nested aliases would expand to about 1.5 GB."""
    assert len(BILLION_LAUGHS) < 1024
    [line] = refused(BILLION_LAUGHS)
    assert line.startswith("mailboxes.yaml:2: YAML aliases (*a) are not allowed")


@pytest.mark.django_db
def test_it_refuses_a_recursive_alias():
    [line] = refused("mailboxes: &loop\n  - *loop\n")
    assert line.startswith("mailboxes.yaml:2: YAML aliases (*loop) are not allowed")
