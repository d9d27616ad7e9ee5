#!/bin/sh
# Installs the schoolnet agent on a school gateway, as root:
#   sh deploy/agent/install.sh                  the project this script belongs to
#   sh deploy/agent/install.sh PACKAGE          a wheel or sdist (a gateway without git)
#   sh deploy/agent/install.sh --upgrade [PACKAGE]   reinstall, keep config and spool, restart
#
# It makes the system user `schoolnet`, a venv under /opt/schoolnet, the config folder
# /etc/schoolnet (agent.yaml from the example, only if there is none: an existing one is
# never touched) and the spool folder /var/lib/schoolnet, then installs and enables the
# systemd unit. Safe to run again.
#
# Paths and switches (for a test, or another layout): PREFIX, ETC_DIR, STATE_DIR,
# SYSTEMD_DIR, SCHOOLNET_USER, PYTHON, and NO_SYSTEMCTL=1 to leave systemd alone.
# pip reads its own PIP_* variables, e.g. an offline gateway:
#   PIP_NO_INDEX=1 PIP_FIND_LINKS=/media/usb/wheels sh install.sh schoolnet-0.1.0-py3-none-any.whl
set -eu

PREFIX=${PREFIX:-/opt/schoolnet}
ETC_DIR=${ETC_DIR:-/etc/schoolnet}
STATE_DIR=${STATE_DIR:-/var/lib/schoolnet}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
SCHOOLNET_USER=${SCHOOLNET_USER:-schoolnet}
PYTHON=${PYTHON:-python3}
NO_SYSTEMCTL=${NO_SYSTEMCTL:-0}
UNIT=schoolnet-agent.service
HERE=$(cd "$(dirname "$0")" && pwd)
VENV="$PREFIX/venv"

say() { printf '%s\n' "schoolnet install: $*"; }
fail() { printf '%s\n' "schoolnet install: $*" >&2; exit 1; }

check_path() {  # name value: absolute, not /, and nothing a unit file or sed would misread
    case $2 in
        /) fail "$1=/ is not allowed; give a folder such as /opt/schoolnet" ;;
        /*) ;;
        *) fail "$1 must be an absolute path, got '$2'" ;;
    esac
    case $2 in
        *[!A-Za-z0-9/._-]*) fail "$1 may contain only A-Z a-z 0-9 / . _ - (got '$2')" ;;
    esac
}

parse_arguments() {
    MODE=install
    PACKAGE=""
    for argument in "$@"; do
        case $argument in
            --upgrade) MODE=upgrade ;;
            -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
            -*) fail "unknown option $argument (known: --upgrade)" ;;
            *) [ -z "$PACKAGE" ] || fail "give at most one package"; PACKAGE=$argument ;;
        esac
    done
    if [ -z "$PACKAGE" ]; then
        PACKAGE=$(cd "$HERE/../.." && pwd)
        [ -f "$PACKAGE/pyproject.toml" ] || fail "no pyproject.toml in $PACKAGE; give a wheel or sdist"
    fi
    [ -e "$PACKAGE" ] || fail "$PACKAGE does not exist"
}

check_machine() {
    [ "$(id -u)" = 0 ] || fail "run as root (it makes a system user and installs a service)"
    check_path PREFIX "$PREFIX"
    check_path ETC_DIR "$ETC_DIR"
    check_path STATE_DIR "$STATE_DIR"
    check_path SYSTEMD_DIR "$SYSTEMD_DIR"
    case $SCHOOLNET_USER in
        ""|-*|*[!a-z0-9_-]*) fail "SCHOOLNET_USER must be a user name of a-z 0-9 _ - (got '$SCHOOLNET_USER')" ;;
    esac
    command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found; install Python >= 3.9 (apt-get install python3 python3-venv)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
        || fail "$PYTHON is older than 3.9; schoolnet needs Python >= 3.9"
}

make_user() {
    if id "$SCHOOLNET_USER" >/dev/null 2>&1; then
        return
    fi
    say "creating system user $SCHOOLNET_USER"
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin "$SCHOOLNET_USER"
    elif command -v adduser >/dev/null 2>&1; then  # BusyBox
        adduser -S -D -H -h "$STATE_DIR" -s /sbin/nologin "$SCHOOLNET_USER"
    else
        fail "neither useradd nor adduser found; create the system user $SCHOOLNET_USER yourself"
    fi
}

install_package() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        mkdir -p "$PREFIX"
        "$PYTHON" -m venv "$VENV" || fail "cannot make a venv; on Debian: apt-get install python3-venv"
    fi
    say "installing $PACKAGE"
    export PIP_ROOT_USER_ACTION=ignore  # we are root on purpose, into a venv of our own
    "$VENV/bin/python" -m pip install --quiet --upgrade "$PACKAGE"
    if [ "$MODE" = upgrade ]; then
        # The same version number rebuilt (a hotfix) must replace the installed files too.
        "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$PACKAGE"
    fi
    [ -x "$VENV/bin/schoolnet-agent" ] || fail "pip did not install schoolnet-agent into $VENV/bin"
}

owned() {  # mode owner path...: chmod and chown in one line
    mode=$1 owner=$2
    shift 2
    chmod "$mode" "$@"
    chown "$owner" "$@"
}

install_config() {
    group=$(id -gn "$SCHOOLNET_USER")
    mkdir -p "$ETC_DIR" "$STATE_DIR"
    owned 0750 "root:$group" "$ETC_DIR"
    owned 0750 "$SCHOOLNET_USER:$group" "$STATE_DIR"
    CONFIG_IS_NEW=0
    if [ ! -e "$ETC_DIR/agent.yaml" ]; then
        # -I: the installed package, not a source tree in the current folder.
        example=$("$VENV/bin/python" -I -c 'import importlib.util, pathlib
print(pathlib.Path(importlib.util.find_spec("agent").origin).with_name("example-config.yaml"))')
        sed -e "s|/etc/schoolnet|$ETC_DIR|g" -e "s|/var/lib/schoolnet|$STATE_DIR|g" "$example" \
            > "$ETC_DIR/agent.yaml.new"
        owned 0640 "root:$group" "$ETC_DIR/agent.yaml.new"
        mv "$ETC_DIR/agent.yaml.new" "$ETC_DIR/agent.yaml"
        CONFIG_IS_NEW=1
        say "wrote $ETC_DIR/agent.yaml from the example: edit it for this school"
    else
        say "keeping $ETC_DIR/agent.yaml"
    fi
    # The broker password: the county's IT gives it; it goes in this file and nowhere else.
    [ -e "$ETC_DIR/mqtt.password" ] || : > "$ETC_DIR/mqtt.password"
    owned 0600 "$SCHOOLNET_USER:$group" "$ETC_DIR/mqtt.password"
}

install_unit() {
    mkdir -p "$SYSTEMD_DIR"
    sed -e "s|/opt/schoolnet|$PREFIX|g" -e "s|/etc/schoolnet|$ETC_DIR|g" \
        -e "s|/var/lib/schoolnet|$STATE_DIR|g" \
        -e "s|^User=schoolnet\$|User=$SCHOOLNET_USER|" \
        -e "s|^Group=schoolnet\$|Group=$(id -gn "$SCHOOLNET_USER")|" \
        "$HERE/$UNIT" > "$SYSTEMD_DIR/$UNIT.new"
    chmod 0644 "$SYSTEMD_DIR/$UNIT.new"
    mv "$SYSTEMD_DIR/$UNIT.new" "$SYSTEMD_DIR/$UNIT"
}

start_service() {
    if [ "$NO_SYSTEMCTL" = 1 ]; then
        say "NO_SYSTEMCTL=1: not touching systemd"
        return
    fi
    command -v systemctl >/dev/null 2>&1 || { say "no systemctl here: start $VENV/bin/schoolnet-agent yourself"; return; }
    systemctl daemon-reload
    if [ "$CONFIG_IS_NEW" = 1 ]; then
        # Started with the example config it would report as the example school.
        systemctl enable "$UNIT"
    elif [ "$MODE" = upgrade ]; then
        systemctl enable "$UNIT"
        systemctl restart "$UNIT"
        say "restarted $UNIT"
    else
        systemctl enable --now "$UNIT"
    fi
}

next_steps() {
    [ "$CONFIG_IS_NEW" = 1 ] || return 0
    cat <<EOF

下一步 / next steps:
  1. 编辑配置 (edit the config):       $ETC_DIR/agent.yaml
  2. 写入县里发的密码 (put the password the county gave you in): $ETC_DIR/mqtt.password
  3. 检查 (check):                      $VENV/bin/schoolnet-agent validate --secrets -c $ETC_DIR/agent.yaml
                                       $VENV/bin/schoolnet-agent check -c $ETC_DIR/agent.yaml
  4. 启动 (start):                      systemctl start $UNIT
EOF
}

parse_arguments "$@"
check_machine
make_user
install_package
install_config
install_unit
start_service
say "done ($MODE): $VENV/bin/schoolnet-agent, config $ETC_DIR, spool $STATE_DIR"
next_steps
