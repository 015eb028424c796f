"""Adding and changing an email account: the form an admin fills in, per kind of account.

The form only gathers what the admin typed and turns it into the mailbox's
configuration (the YAML schema, `deskmail.mailboxes.config`); the schema
checks it, so no rule is written here twice. Secrets are never shown again:
the password fields start empty, and empty keeps what is stored.
"""

from __future__ import annotations

from typing import Any

from django import forms

from deskmail.mailboxes.config import InboundConfig, MailboxConfig
from deskmail.mailboxes.presets import KIND_BY_KEY, SERVICE_BY_KEY, SERVICES, Kind, kind_of

SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "none (plain text)")]
SIGN_IN = [
    ("password", "Password or app password"),
    ("microsoft", "Connect with Microsoft (OAuth2)"),
    ("google", "Connect with Google (OAuth2)"),
    ("generic", "Another OAuth2 provider"),
]
GRAPH_SCOPES = {
    "graph": [
        "https://graph.microsoft.com/Mail.ReadWrite",
        "https://graph.microsoft.com/Mail.Send",
    ],
    "graph_shared": [
        "https://graph.microsoft.com/Mail.ReadWrite.Shared",
        "https://graph.microsoft.com/Mail.Send.Shared",
    ],
}

# Which fields each kind shows, after the ones every account has.
SERVER_FIELDS = [
    "service",
    "in_host",
    "in_port",
    "in_security",
    "out_host",
    "out_port",
    "out_security",
    "smtp_username",
    "smtp_password",
]
LOGIN_FIELDS = ["username", "password"]
OAUTH_FIELDS = [
    "client_id",
    "client_secret",
    "tenant",
    "authority_host",
    "auth_url",
    "token_url",
    "scope",
]
READING_FIELDS = ["folder", "sync_since", "poll_seconds", "connect_timeout_s", "auth_timeout_s"]
KIND_FIELDS: dict[str, list[str]] = {
    "imap": ["sign_in", *LOGIN_FIELDS, *SERVER_FIELDS, *READING_FIELDS, *OAUTH_FIELDS],
    "gmail": ["sign_in", *LOGIN_FIELDS, *SERVER_FIELDS, *READING_FIELDS, *OAUTH_FIELDS],
    # POP3 has one folder only.
    "pop3": [
        "sign_in",
        *LOGIN_FIELDS,
        *SERVER_FIELDS,
        *(f for f in READING_FIELDS if f != "folder"),
        *OAUTH_FIELDS,
    ],
    "ews": ["ews_url", *LOGIN_FIELDS, *READING_FIELDS],
    "graph": [*OAUTH_FIELDS, "graph_url", *READING_FIELDS],
    "graph_shared": ["shared_address", *OAUTH_FIELDS, "graph_url", *READING_FIELDS],
    "forward": [],
}
# Where the schema's fields are in the form, for its error messages.
SCHEMA_FIELDS = {
    "name": "name",
    "key": "key",
    "address": "address",
    "display_name": "display_name",
    "purpose": "purpose",
    "status": "status",
    "inbound.host": "in_host",
    "inbound.port": "in_port",
    "inbound.security": "in_security",
    "inbound.username": "username",
    "inbound.folder": "folder",
    "inbound.sync_since": "sync_since",
    "inbound.poll_seconds": "poll_seconds",
    "inbound.connect_timeout_s": "connect_timeout_s",
    "inbound.auth_timeout_s": "auth_timeout_s",
    "inbound.ews_url": "ews_url",
    "inbound.graph_url": "graph_url",
    "inbound.user": "shared_address",
    "outbound.host": "out_host",
    "outbound.port": "out_port",
    "outbound.security": "out_security",
    "outbound.username": "smtp_username",
    "oauth.client_id": "client_id",
    "oauth.tenant": "tenant",
    "oauth.authority_host": "authority_host",
    "oauth.auth_url": "auth_url",
    "oauth.token_url": "token_url",
    "oauth.scope": "scope",
}


def _text(label: str, required: bool = False, **attrs: str) -> forms.CharField:
    return forms.CharField(
        label=label, required=required, widget=forms.TextInput(attrs=attrs or None)
    )


def _secret(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )


class AccountForm(forms.Form):
    name = _text("Name (used in the console and in YAML)", required=True)
    key = _text("Key (up to 5 letters or digits, in [KEY#123])", required=True, maxlength="5")
    address = forms.EmailField(label="Business address")
    display_name = _text("Display name")
    purpose = forms.ChoiceField(
        label="Purpose",
        choices=[("receive_send", "Receive and send"), ("receive", "Receive only")],
    )
    status = forms.ChoiceField(
        label="Status",
        choices=[("draft", "draft"), ("active", "active"), ("disabled", "disabled")],
        initial="draft",
    )
    sign_in = forms.ChoiceField(label="Sign in with", choices=SIGN_IN, initial="password")
    username = _text("User name (empty: the business address)", autocomplete="off")
    password = _secret("Password or app password")
    service = forms.ChoiceField(
        label="Service", choices=[(s.key, s.label) for s in SERVICES], initial="custom"
    )
    in_host = _text("Incoming server")
    in_port = forms.IntegerField(label="Incoming port", required=False, min_value=1)
    in_security = forms.ChoiceField(label="Incoming security", choices=SECURITY)
    out_host = _text("Outgoing server (SMTP)")
    out_port = forms.IntegerField(label="Outgoing port", required=False, min_value=1)
    out_security = forms.ChoiceField(label="Outgoing security", choices=SECURITY)
    smtp_username = _text("SMTP user name (empty: the same as incoming)", autocomplete="off")
    smtp_password = _secret("SMTP password (empty: the same as incoming)")
    ews_url = _text("EWS URL", placeholder="https://mail.example.com/EWS/Exchange.asmx")
    shared_address = forms.EmailField(label="Shared mailbox address", required=False)
    graph_url = _text("Graph URL (empty: https://graph.microsoft.com/v1.0)")
    client_id = _text("OAuth client (application) id")
    client_secret = _secret("OAuth client secret (empty: keep the stored one, or none)")
    tenant = _text("Microsoft tenant (id or domain)")
    authority_host = _text("Microsoft sign-in host (empty: login.microsoftonline.com)")
    auth_url = _text("Authorization URL (other providers)")
    token_url = _text("Token URL (other providers)")
    scope = _text("Scopes, separated by spaces (empty: the provider's mail scopes)")
    folder = _text("Folder")
    sync_since = forms.DateField(
        label="Fetch mail since",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    poll_seconds = forms.IntegerField(label="Check for mail every (seconds)", required=False)
    connect_timeout_s = forms.FloatField(label="Connect timeout (seconds)", required=False)
    auth_timeout_s = forms.FloatField(label="Login timeout (seconds)", required=False)

    def __init__(self, kind: Kind, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "account-%s")
        super().__init__(*args, **kwargs)
        self.kind = KIND_BY_KEY[kind]
        self.editing = editing
        shown = {"name", "key", "address", "display_name", "purpose", "status"}
        shown |= set(KIND_FIELDS[kind])
        for name in list(self.fields):
            if name not in shown:
                del self.fields[name]
        if editing:
            self.fields["name"].disabled = True
        if not editing:  # the schema's defaults, shown rather than implied
            for name in READING_FIELDS:
                info = InboundConfig.model_fields.get(name)
                default = info.get_default(call_default_factory=True) if info else None
                if default is not None and name in self.fields:
                    self.initial.setdefault(name, default)
        if kind == "gmail" and not self.is_bound and not editing:
            self.initial.setdefault("service", "gmail")
            self.initial.setdefault("sign_in", "google")
        if kind in ("graph", "graph_shared", "ews", "forward"):
            self.fields["purpose"].initial = "receive_send"

    @property
    def kind_key(self) -> Kind:
        return self.kind.key

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The visible fields, grouped for the page."""
        groups = [
            ("Account", ["name", "key", "address", "display_name", "purpose", "status"]),
            ("Sign-in", ["sign_in", "username", "password", "shared_address"]),
            ("Servers", ["service", "ews_url", "graph_url", *SERVER_FIELDS[1:]]),
            ("OAuth2", OAUTH_FIELDS),
            ("Reading", READING_FIELDS),
        ]
        return [
            (title, [self[n] for n in names if n in self.fields])
            for title, names in groups
            if any(n in self.fields for n in names)
        ]

    def fill_from_service(self) -> None:
        """Put the chosen service's servers into the form (the "Fill in" button)."""
        data = self.data.copy()  # type: ignore[attr-defined]
        service = SERVICE_BY_KEY.get(str(data.get("service", "")))
        incoming = None
        if service is not None:
            incoming = service.pop3 if self.kind_key == "pop3" else service.imap
        if incoming is not None and service is not None and service.smtp is not None:
            data["in_host"], data["in_port"] = incoming.host, str(incoming.port)
            data["in_security"] = incoming.security
            data["out_host"], data["out_port"] = service.smtp.host, str(service.smtp.port)
            data["out_security"] = service.smtp.security
        self.data = data

    # -- to and from the configuration --------------------------------------------------

    def changes(self) -> dict[str, Any]:
        """The configuration the form describes (sections to merge into the stored one)."""
        d = self.cleaned_data
        kind = self.kind_key
        address = d["address"]
        out: dict[str, Any] = {
            "name": d.get("name") or (self.initial.get("name") if self.editing else None),
            "key": d["key"],
            "address": address,
            "display_name": d.get("display_name") or None,
            "purpose": d["purpose"],
            "status": d["status"],
        }
        reading = {
            "folder": d.get("folder") or None,
            "sync_since": d["sync_since"].isoformat() if d.get("sync_since") else None,
            "poll_seconds": d.get("poll_seconds"),
            "connect_timeout_s": d.get("connect_timeout_s"),
            "auth_timeout_s": d.get("auth_timeout_s"),
        }
        oauth = self._oauth(kind)
        out["oauth"] = oauth
        if kind in ("imap", "gmail", "pop3"):
            auth = "oauth2" if oauth else "password"
            out["inbound"] = {
                "protocol": "pop3" if kind == "pop3" else "imap",
                "host": d.get("in_host") or None,
                "port": d.get("in_port"),
                "security": d["in_security"],
                "username": d.get("username") or address,
                "auth": auth,
                **reading,
            }
            out["outbound"] = {
                "protocol": "smtp",
                "host": d.get("out_host") or None,
                "port": d.get("out_port"),
                "security": d["out_security"],
                "username": d.get("smtp_username") or d.get("username") or address,
                "auth": auth,
            }
        elif kind == "ews":
            out["inbound"] = {
                "protocol": "ews",
                "ews_url": d.get("ews_url") or None,
                "username": d.get("username") or address,
                **reading,
            }
            out["outbound"] = {"protocol": "ews"}
        elif kind in ("graph", "graph_shared"):
            out["inbound"] = {
                "protocol": "graph",
                "auth": "oauth2",
                "user": d.get("shared_address") or None,
                "graph_url": d.get("graph_url") or None,
                **reading,
            }
            out["outbound"] = {"protocol": "graph"}
        else:
            out["inbound"] = {"protocol": "forward"}
        if d["purpose"] == "receive":
            out["outbound"] = None
        return out

    def _oauth(self, kind: Kind) -> dict[str, Any] | None:
        d = self.cleaned_data
        if kind in ("graph", "graph_shared"):
            provider = "microsoft"
        else:
            provider = d.get("sign_in", "password")
            if provider == "password":
                return None
        scope = (d.get("scope") or "").split() or GRAPH_SCOPES.get(kind) or None
        return {
            "grant": "user",
            "provider": provider,
            "client_id": d.get("client_id") or "",
            "tenant": d.get("tenant") or None,
            "authority_host": d.get("authority_host") or None,
            "auth_url": d.get("auth_url") or None,
            "token_url": d.get("token_url") or None,
            "scope": scope,
            "redirect_uri": self.redirect_uri,
        }

    redirect_uri: str | None = None

    @staticmethod
    def initial_from(config: MailboxConfig, status: str) -> dict[str, Any]:
        """The form's starting values for a saved account (never a secret)."""
        inbound, outbound, oauth = config.inbound, config.outbound, config.oauth
        initial: dict[str, Any] = {
            "name": config.name,
            "key": config.key,
            "address": config.address,
            "display_name": config.display_name or "",
            "purpose": config.purpose,
            "status": "active" if status == "failed" else status,
        }
        if inbound is not None:
            initial |= {
                "username": inbound.username if inbound.username != config.address else "",
                "in_host": inbound.host or "",
                "in_port": inbound.port,
                "in_security": inbound.security,
                "ews_url": inbound.ews_url or "",
                "graph_url": inbound.graph_url or "",
                "shared_address": inbound.user or "",
                "folder": inbound.folder,
                "sync_since": inbound.sync_since,
                "poll_seconds": inbound.poll_seconds,
                "connect_timeout_s": inbound.connect_timeout_s,
                "auth_timeout_s": inbound.auth_timeout_s,
                "sign_in": "password" if inbound.auth == "password" else "generic",
            }
        if outbound is not None:
            initial |= {
                "out_host": outbound.host or "",
                "out_port": outbound.port,
                "out_security": outbound.security,
                "smtp_username": (
                    outbound.username
                    if inbound is None or outbound.username != inbound.username
                    else ""
                ),
            }
        if oauth is not None:
            initial |= {
                "sign_in": oauth.provider,
                "client_id": oauth.client_id,
                "tenant": oauth.tenant or "",
                "authority_host": oauth.authority_host or "",
                "auth_url": oauth.auth_url or "",
                "token_url": oauth.token_url or "",
                "scope": " ".join(oauth.scope),
            }
        return initial

    def add_problems(self, problems: list[tuple[str, str]]) -> None:
        """Errors from the schema, each on its field (or the whole form, naming it)."""
        for path, message in problems:
            field = SCHEMA_FIELDS.get(path)
            if field is None and path in ("inbound", "outbound", "oauth"):
                # A rule across the section: its message starts with the field it is about.
                first = message.split(" ", 1)[0]
                field = SCHEMA_FIELDS.get(f"{path}.{first}")
            if field is not None and field in self.fields:
                self.add_error(field, message)
            else:
                self.add_error(None, f"{path}: {message}" if path else message)


def kind_for(config: MailboxConfig) -> Kind:
    return kind_of(config) or "imap"
