#!/bin/sh
# Installs the real servers the test suite starts on loopback: Dovecot (IMAP,
# POP3, LMTP) and Postfix (SMTP), from Debian's packages. Idempotent: does
# nothing when they are already installed. No daemon is started system-wide;
# the tests run their own instances from a temporary folder.
set -e
need=""
command -v dovecot >/dev/null 2>&1 || need="$need dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd"
test -x /usr/sbin/postfix || need="$need postfix"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "The tests need:$need (Debian packages). Install them as root, then run make test again." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $need >/dev/null
