#!/bin/sh
# Installs the real servers the test suite starts on loopback: Dovecot (IMAP,
# POP3, LMTP) and Postfix (SMTP), from Debian's packages, and the Chromium the
# console's browser tests drive through Playwright (no browser download). Idempotent: does
# nothing when they are already installed. No daemon is started system-wide;
# the tests run their own instances from a temporary folder
# (deskmail/testing/mailservers.py).
set -e
need=""
for package in dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix openssl \
    chromium fonts-dejavu-core; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        need="$need $package"
    fi
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "The tests need:$need (Debian packages). Install them as root, then run make test again." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Without policy-rc.d, postinst would start the system-wide daemons on ports 25, 143...;
# the tests do not need them (they would not disturb the tests either).
apt-get install -y -qq --no-install-recommends $need >/dev/null
