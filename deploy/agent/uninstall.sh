#!/bin/sh
# Removes the schoolnet agent from a school gateway, as root:
#   sh deploy/agent/uninstall.sh           stop it, remove the service and the venv; keep
#                                          /etc/schoolnet (config, password) and
#                                          /var/lib/schoolnet (results not yet sent)
#   sh deploy/agent/uninstall.sh --purge   also delete the config, the password and the spool
#
# The system user `schoolnet` stays (Debian's advice for system users); `userdel schoolnet`
# removes it. Same variables as install.sh: PREFIX, ETC_DIR, STATE_DIR, SYSTEMD_DIR,
# NO_SYSTEMCTL=1.
set -eu

PREFIX=${PREFIX:-/opt/schoolnet}
ETC_DIR=${ETC_DIR:-/etc/schoolnet}
STATE_DIR=${STATE_DIR:-/var/lib/schoolnet}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
NO_SYSTEMCTL=${NO_SYSTEMCTL:-0}
UNIT=schoolnet-agent.service

say() { printf '%s\n' "schoolnet uninstall: $*"; }
fail() { printf '%s\n' "schoolnet uninstall: $*" >&2; exit 1; }

check_path() {  # name value: never let a typo turn `rm -rf` on / or a relative path
    case $2 in
        /) fail "$1=/ is not allowed" ;;
        /*) ;;
        *) fail "$1 must be an absolute path, got '$2'" ;;
    esac
    case $2 in
        *[!A-Za-z0-9/._-]*) fail "$1 may contain only A-Z a-z 0-9 / . _ - (got '$2')" ;;
    esac
}

PURGE=0
for argument in "$@"; do
    case $argument in
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) fail "unknown argument $argument (known: --purge)" ;;
    esac
done
[ "$(id -u)" = 0 ] || fail "run as root"
check_path PREFIX "$PREFIX"
check_path ETC_DIR "$ETC_DIR"
check_path STATE_DIR "$STATE_DIR"
check_path SYSTEMD_DIR "$SYSTEMD_DIR"

if [ "$NO_SYSTEMCTL" != 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "$UNIT" 2>/dev/null || say "$UNIT was not enabled"
fi
rm -f "$SYSTEMD_DIR/$UNIT"
if [ "$NO_SYSTEMCTL" != 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
fi
rm -rf "$PREFIX/venv"
rmdir "$PREFIX" 2>/dev/null || true  # only if nothing else lives there
say "removed $UNIT and $PREFIX/venv"

if [ "$PURGE" = 1 ]; then
    rm -rf "$ETC_DIR" "$STATE_DIR"
    say "purged $ETC_DIR and $STATE_DIR"
else
    say "kept $ETC_DIR (config, password) and $STATE_DIR (unsent results); --purge deletes them"
fi
