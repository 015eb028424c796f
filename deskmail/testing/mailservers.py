"""Real Dovecot and Postfix on loopback for tests, run from a temporary folder.

Dovecot serves IMAP, POP3 (each plain with STARTTLS, and implicit TLS), LMTP
and SASL for Postfix; its second passdb checks OAuth2 bearer tokens against
the `TokenServer` running in this process. Postfix (optional: it needs root)
takes SMTP on three ports (plain with optional STARTTLS, submission with
STARTTLS required, implicit TLS) and delivers local domains to Dovecot over
LMTP; any other domain is refused with 550 at RCPT, and `tempfail.test` with
451, so tests can tell permanent from temporary refusals. On PLAINTEXT_HOST
(127.0.0.2) the same ports offer no TLS at all, to test that a client never
falls back to plain text.

The daemons are children of the test process, each in its own process group.
A small watchdog process kills those groups if the test process dies without
stopping them (a SIGKILL included), so no daemon outlives a test run.

The quirks behind some settings (see shared/mailstack/RECIPE.md):
- Maildirs belong to uid `mail`, so the folder must be enterable by it: pytest's
  tmp_path (under a 0700 directory) does not work; a `/tmp/dm-*` folder does.
- Unix socket paths are limited to 107 bytes, so the folder name stays short.
- Postfix re-reads a file until its mtime is over a second old, so every
  Postfix file is backdated by a minute.
- Dovecot re-reads its passwd-file at most once a second: `new_account()` hands
  out users written before start, and `add_user()` waits until Dovecot knows it.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from imapclient import IMAPClient

from deskmail.testing.tokenserver import TokenServer

HOST = "127.0.0.1"
# Dovecot offers no STARTTLS here: for tests that a client never falls back to plain text.
PLAINTEXT_HOST = "127.0.0.2"
DOMAIN = "helpdesk.test"
CUSTOMER_DOMAIN = "customer.test"
# Postfix accepts any address here and Dovecot's LMTP refuses it: a real DSN comes back.
BOUNCE_DOMAIN = "bounce.test"
# Recipients here get "451 4.3.0" at RCPT: a temporary refusal.
TEMPFAIL_DOMAIN = "tempfail.test"
DOVECOT_PORTS = ("imap", "imaps", "pop3", "pop3s", "lmtp", "sasl")
POSTFIX_PORTS = ("smtp", "submission", "smtps")
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
_WATCHDOG = Path(__file__).with_name("watchdog.py")


class MailServersError(RuntimeError):
    pass


class MailAccount(NamedTuple):
    address: str
    password: str


class MailServers:
    """Start with `start()` (or `with MailServers() as servers:`), stop with `stop()`."""

    def __init__(
        self, *, postfix: bool | None = None, pool_size: int = 64, imap_processes: int = 0
    ) -> None:
        """`imap_processes`: IMAP sessions Dovecot serves at once, when over its 100."""
        self.postfix = (os.geteuid() == 0) if postfix is None else postfix
        self.imap_processes = imap_processes
        if self.postfix and os.geteuid() != 0:
            raise MailServersError("Postfix can only be started as root")
        self.pool_size = pool_size
        self.dir = Path(tempfile.mkdtemp(prefix="dm-", dir="/tmp"))
        self.ports: dict[str, int] = {}
        self.users: dict[str, str] = {}
        # Its certificate lives in our folder, which the watchdog removes if we are killed.
        self.tokens = TokenServer(folder=self.dir / "tokens")
        self._pool: list[MailAccount] = []
        self._pool_counter = 0
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._postfix: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"MailServers(dir={str(self.dir)!r}, ports={self.ports!r})"

    def __enter__(self) -> MailServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return HOST

    @property
    def cafile(self) -> str:
        """The self-signed server certificate (valid for 127.0.0.1 and localhost)."""
        return str(self.dir / "tls" / "cert.pem")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 20) -> MailServers:
        if shutil.which("dovecot") is None:
            raise MailServersError("dovecot is not installed: run scripts/install-test-services.sh")
        names = DOVECOT_PORTS + (POSTFIX_PORTS if self.postfix else ())
        self.ports = dict(zip(names, _free_ports(len(names)), strict=True))
        try:
            self.tokens.start()
            self._prepare()
            self._watchdog = subprocess.Popen(
                [sys.executable, str(_WATCHDOG), str(os.getpid()), str(self.dir)],
                start_new_session=True,
            )
            self.start_dovecot(timeout)
            if self.postfix:
                self.start_postfix(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything and remove the folder; safe to call twice."""
        self.stop_postfix()
        self.stop_dovecot()
        self.tokens.stop()
        if self._watchdog is not None:
            self._pgid_file.unlink(missing_ok=True)
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_dovecot(self, timeout: float = 20) -> None:
        config = str(self.dir / "dovecot" / "dovecot.conf")
        self._dovecot = self._spawn(["dovecot", "-F", "-c", config], "dovecot-master.log")
        self._write_pgids()
        self._wait_for_ports(DOVECOT_PORTS, self._dovecot, timeout)
        if self._postfix is not None:
            # smtpd keeps its connection to Dovecot's auth service; after a restart its
            # next AUTH would fail with 454. A reload replaces the idle smtpd processes.
            self._postfix.send_signal(signal.SIGHUP)

    def stop_dovecot(self) -> None:
        """Stop Dovecot: IMAP, POP3, LMTP and SMTP logins then fail until start_dovecot()."""
        if self._dovecot is None:
            return
        _terminate(self._dovecot)
        self._dovecot = None
        self._write_pgids()

    def restart_dovecot(self, timeout: float = 20) -> None:
        """Stop Dovecot (cutting every open session) and start it again on the same ports."""
        self.stop_dovecot()
        self.start_dovecot(timeout)

    def stop_postfix(self) -> None:
        """Stop Postfix: its ports then refuse connections."""
        if self._postfix is None:
            return
        _terminate(self._postfix)
        self._postfix = None
        self._write_pgids()

    def start_postfix(self, timeout: float = 20) -> None:
        if not self.postfix or self._postfix is not None:
            return
        # The master itself in the foreground (-d), as our child, instead of `postfix start`.
        self._postfix = self._spawn(
            [POSTFIX_MASTER, "-d", "-c", str(self.dir / "postfix")], "postfix-master.log"
        )
        self._write_pgids()
        self._wait_for_ports(POSTFIX_PORTS, self._postfix, timeout)

    def postfix_queue_empty(self) -> bool:
        """Whether Postfix holds no mail any more (nothing left to deliver or retry)."""
        spool = self.dir / "spool"
        return not any(
            path.is_file()
            for queue in ("maildrop", "incoming", "active", "deferred", "hold")
            for path in (spool / queue).rglob("*")
        )

    # -- users and tokens -------------------------------------------------------------

    def new_account(self) -> MailAccount:
        """A user nobody has used before, with an empty mailbox (instant, from a pool)."""
        if not self._pool:
            self._grow_pool()
        return self._pool.pop(0)

    def add_user(self, address: str, password: str) -> MailAccount:
        """Add a user while running; returns once Dovecot and Postfix both know it."""
        self._add_users({address.lower(): password})
        return MailAccount(address.lower(), password)

    def issue_token(self, address: str, expires_in: float = 3600) -> str:
        """A bearer token Dovecot accepts for address (XOAUTH2/OAUTHBEARER, IMAP/POP3/SMTP)."""
        return self.tokens.issue(address, expires_in)

    # -- mailbox helpers ----------------------------------------------------------------

    def imap(self, account: MailAccount) -> IMAPClient:
        """A logged-in IMAP client for account (plain loopback connection)."""
        client = IMAPClient(HOST, port=self.ports["imap"], ssl=False, timeout=10)
        client.login(account.address, account.password)
        return client

    def append(
        self,
        account: MailAccount,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
    ) -> int:
        """APPEND raw to folder (created when missing); returns the new message's UID."""
        with self.imap(account) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            reply = client.append(folder, raw, flags=tuple(flags))
        # APPENDUID (RFC 4315): b"[APPENDUID <uidvalidity> <uid>] Append completed."
        return int(reply.split(b"]")[0].split()[-1])

    def read_mailbox(self, account: MailAccount, folder: str = "INBOX") -> list[bytes]:
        """Every message in folder, in UID order, as raw bytes (does not mark them seen)."""
        with self.imap(account) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    def flags(self, account: MailAccount, folder: str = "INBOX") -> dict[int, set[str]]:
        """The flags of every message in folder, by UID."""
        with self.imap(account) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            found = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: {flag.decode() for flag in data[b"FLAGS"]} for uid, data in found.items()}

    def fill_maildir(self, account: MailAccount, messages: Iterable[bytes]) -> int:
        """Write messages straight into the account's INBOX Maildir, unseen; returns how many.

        Far faster than APPEND (for benchmarks with thousands of messages);
        Dovecot indexes them when the folder is next opened.
        """
        local, domain = account.address.split("@", 1)
        maildir = self.dir / "mail" / domain / local / "Maildir"
        owner = self.dir / "mail"
        uid, gid = owner.stat().st_uid, owner.stat().st_gid
        for path in (
            maildir.parent.parent,
            maildir.parent,
            maildir,
            *(maildir / d for d in ("cur", "new", "tmp")),
        ):
            if not path.exists():
                path.mkdir(mode=0o700)
                os.chown(path, uid, gid)
        count = 0
        unique = f"{int(time.time())}.{secrets.token_hex(4)}"
        for count, raw in enumerate(messages, 1):
            path = maildir / "cur" / f"{unique}.M{count}.deskmail,S={len(raw)}:2,"
            path.write_bytes(raw)
            os.chown(path, uid, gid)
        return count

    def set_uidvalidity(self, account: MailAccount, value: int, folder: str = "INBOX") -> None:
        """Give folder a new UIDVALIDITY, as a server does when it rebuilds its index."""
        subprocess.run(
            ["doveadm", "-c", str(self.dir / "dovecot" / "dovecot.conf"), "mailbox", "update",
             "-u", account.address, "--uid-validity", str(value), folder],
            check=True, capture_output=True,
        )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for log in sorted((self.dir / "log").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    # -- internals ------------------------------------------------------------------------

    @property
    def _pgid_file(self) -> Path:
        return self.dir / "pgids"

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        """Start a daemon in its own process group (what the watchdog kills), output to log."""
        with open(self.dir / "log" / log, "ab") as output:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _write_pgids(self) -> None:
        pids = [p.pid for p in (self._dovecot, self._postfix) if p is not None]
        _write(self._pgid_file, "".join(f"{pid}\n" for pid in pids))

    def _prepare(self) -> None:
        root = os.geteuid() == 0
        self.dir.chmod(0o711)  # Dovecot's mail processes (uid mail) must enter it
        for sub in ("tls", "dovecot", "dovecot/state", "run", "log", "mail", "postfix"):
            (self.dir / sub).mkdir()
        vmail = pwd.getpwnam("mail") if root else pwd.getpwuid(os.getuid())
        os.chown(self.dir / "mail", vmail.pw_uid, vmail.pw_gid)
        (self.dir / "run").chmod(0o755)
        (self.dir / "log").chmod(0o777)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "7", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.dir / "tls" / "key.pem"),
             "-out", str(self.dir / "tls" / "cert.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        conf = self._dovecot_conf(vmail, root)
        if self.imap_processes:
            conf += f"service imap {{\n  process_limit = {self.imap_processes}\n}}\n"
        _write(self.dir / "dovecot" / "dovecot.conf", conf)
        _write(self.dir / "dovecot" / "oauth2.conf.ext", self._oauth2_conf())
        if self.postfix:
            self._prepare_postfix()
        self._pool = self._make_pool()
        self._write_users({account.address: account.password for account in self._pool})

    def _dovecot_conf(self, vmail: pwd.struct_passwd, root: bool) -> str:
        d, p = self.dir, self.ports
        if root:
            internal = "default_internal_user = dovecot\ndefault_login_user = dovenull\n"
            chroot = ""
        else:
            me = vmail.pw_name
            internal = (
                f"default_internal_user = {me}\ndefault_internal_group = "
                f"{grp.getgrgid(vmail.pw_gid).gr_name}\ndefault_login_user = {me}\n"
            )
            chroot = "  chroot =\n"
        return f"""\
base_dir = {d}/run
state_dir = {d}/dovecot/state
instance_name = deskmail-{d.name}
protocols = imap pop3 lmtp
listen = {HOST}, {PLAINTEXT_HOST}
hostname = mail.{DOMAIN}
shutdown_clients = yes
log_path = {d}/log/dovecot.log
auth_verbose = yes
{internal}first_valid_uid = 1
first_valid_gid = 1
ssl = yes
ssl_cert = <{d}/tls/cert.pem
ssl_key = <{d}/tls/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
# A failed login is answered after 0.5 s instead of 2.5 s.
auth_failure_delay = 0
auth_username_format = %Lu
mail_location = maildir:~/Maildir
mail_fsync = never
recipient_delimiter = +
lda_mailbox_autocreate = yes
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu {d}/dovecot/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/dovecot/oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {d}/dovecot/users
  default_fields = uid={vmail.pw_uid} gid={vmail.pw_gid} home={d}/mail/%Ld/%Ln
}}
service imap-login {{
  inet_listener imap {{
    port = {p["imap"]}
  }}
  inet_listener imaps {{
    port = {p["imaps"]}
    ssl = yes
  }}
{chroot}}}
service pop3-login {{
  inet_listener pop3 {{
    port = {p["pop3"]}
  }}
  inet_listener pop3s {{
    port = {p["pop3s"]}
    ssl = yes
  }}
{chroot}}}
service lmtp {{
  inet_listener lmtp {{
    port = {p["lmtp"]}
  }}
}}
service auth {{
  inet_listener sasl {{
    port = {p["sasl"]}
  }}
}}
# Every test connects from 127.0.0.1: no growing per-IP penalty after failed logins.
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Connections to the second loopback address get no TLS at all (no STARTTLS offered).
local {PLAINTEXT_HOST} {{
  ssl = no
}}
protocol lmtp {{
  postmaster_address = postmaster@{DOMAIN}
}}
"""

    def _oauth2_conf(self) -> str:
        return f"""\
introspection_mode = post
introspection_url = {self.tokens.introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""

    def _prepare_postfix(self) -> None:
        d, p = self.dir, self.ports
        etc, spool = d / "postfix", d / "spool"
        owner = pwd.getpwnam("postfix")
        postdrop = grp.getgrnam("postdrop").gr_gid
        spool.mkdir(mode=0o755)
        layout = {
            d / "postfix-data": (owner.pw_uid, owner.pw_gid, 0o700),
            spool / "pid": (0, 0, 0o755),
            spool / "public": (owner.pw_uid, postdrop, 0o710),
            spool / "maildrop": (owner.pw_uid, postdrop, 0o730),
        }
        for queue in ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
                      "incoming", "private", "saved", "trace"):  # fmt: skip
            layout[spool / queue] = (owner.pw_uid, 0, 0o700)
        for path, (uid, gid, mode) in layout.items():
            path.mkdir()
            os.chown(path, uid, gid)
            path.chmod(mode)
        refuse = "error:5.7.1 external delivery disabled in the test mail servers"
        _write(etc / "main.cf", f"""\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {d}/postfix-data
mail_owner = postfix
myhostname = mail.{DOMAIN}
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = {HOST}/32
smtpd_banner = $myhostname ESMTP deskmail test
maillog_file = {d}/log/postfix.log
maillog_file_prefixes = {d}/log
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
default_transport = {refuse}
relay_transport = {refuse}
virtual_mailbox_domains = texthash:{etc}/vdomains
virtual_mailbox_maps = texthash:{etc}/vmailbox
virtual_transport = lmtp:inet:{HOST}:{p["lmtp"]}
recipient_delimiter = +
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:{HOST}:{p["sasl"]}
smtpd_sasl_security_options = noanonymous
smtpd_relay_restrictions = check_recipient_access texthash:{etc}/access,
  permit_sasl_authenticated, reject_unauth_destination
smtpd_tls_cert_file = {d}/tls/cert.pem
smtpd_tls_key_file = {d}/tls/key.pem
smtpd_tls_security_level = may
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
""", backdate=True)  # fmt: skip
        _write(
            etc / "access",
            f"{TEMPFAIL_DOMAIN} 451 4.3.0 Try again later (test mail servers)\n",
            backdate=True,
        )
        services = [
            ("pickup", "unix", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("smtp", "unix", "-", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("lmtp", "unix", "-", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
        ]
        # Columns: service type private unpriv chroot wakeup maxproc command.
        lines = [
            f"{HOST}:{p['smtp']} inet n - n - - smtpd",
            f"{HOST}:{p['submission']} inet n - n - - smtpd",
            "  -o smtpd_tls_security_level=encrypt",
            "  -o smtpd_tls_auth_only=yes",
            f"{HOST}:{p['smtps']} inet n - n - - smtpd",
            "  -o smtpd_tls_wrappermode=yes",
            f"{PLAINTEXT_HOST}:{p['smtp']} inet n - n - - smtpd",
            "  -o smtpd_tls_security_level=none",
        ]
        lines += [f"{n} {t} {priv} - n {wake} {mx} {cmd}" for n, t, priv, wake, mx, cmd in services]
        _write(etc / "master.cf", "\n".join(lines) + "\n", backdate=True)

    def _make_pool(self) -> list[MailAccount]:
        start, self._pool_counter = self._pool_counter, self._pool_counter + self.pool_size
        return [
            MailAccount(f"user{n:04d}@{DOMAIN}", secrets.token_urlsafe(9))
            for n in range(start + 1, self._pool_counter + 1)
        ]

    def _grow_pool(self) -> None:
        fresh = self._make_pool()
        self._add_users({account.address: account.password for account in fresh})
        self._pool.extend(fresh)

    def _add_users(self, users: dict[str, str]) -> None:
        self._write_users(users)
        if self._postfix is not None:
            self._postfix.send_signal(signal.SIGHUP)  # re-read vmailbox in new smtpd processes
        deadline = time.monotonic() + 10
        last = list(users)[-1]
        while not self._lmtp_knows(last):
            if time.monotonic() > deadline:
                raise MailServersError(f"Dovecot did not pick up the new user {last}")
            time.sleep(0.05)

    def _write_users(self, users: dict[str, str]) -> None:
        for address, password in users.items():
            if ":" in address + password or any(c.isspace() for c in address + password):
                raise MailServersError(f"no ':' or blanks in a test user: {address!r}")
        self.users.update(users)
        users_file = self.dir / "dovecot" / "users"
        _write(users_file, "".join(f"{a}:{{PLAIN}}{pw}::::::\n" for a, pw in self.users.items()))
        if os.geteuid() == 0:
            os.chown(users_file, -1, grp.getgrnam("dovecot").gr_gid)
        users_file.chmod(0o640)
        if self.postfix:
            domains = {a.split("@", 1)[1] for a in self.users} | {CUSTOMER_DOMAIN, BOUNCE_DOMAIN}
            etc = self.dir / "postfix"
            vmailbox = [f"{address} OK\n" for address in self.users] + [f"@{BOUNCE_DOMAIN} OK\n"]
            _write(etc / "vmailbox", "".join(vmailbox), backdate=True)
            _write(etc / "vdomains", "".join(f"{d} OK\n" for d in sorted(domains)), backdate=True)

    def _lmtp_knows(self, address: str) -> bool:
        with smtplib.LMTP(HOST, self.ports["lmtp"], timeout=5) as lmtp:
            lmtp.ehlo_or_helo_if_needed()
            lmtp.mail("")
            code, _ = lmtp.rcpt(address)
            lmtp.rset()
        return code == 250

    def _wait_for_ports(
        self, names: Iterable[str], process: subprocess.Popen[bytes], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            while not _accepts(self.ports[name]):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MailServersError(
                        f"{process.args!r} did not open port {name} ({self.ports[name]}); "
                        f"exit code {process.returncode}\n{self.log_tail()}"
                    )
                time.sleep(0.01)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the daemon's whole process group; SIGKILL what is left after 50 ms.

    Signalling only Dovecot's master makes it wait ~1 s for its children.
    """
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    time.sleep(0.05)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _write(path: Path, text: str, *, backdate: bool = False) -> None:
    """Write atomically (Dovecot may read the file at any moment)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    if backdate:
        old = time.time() - 60
        os.utime(tmp, (old, old))
    tmp.replace(path)
