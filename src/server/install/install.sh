#!/bin/sh
# Installs the myx agent on this host from the control plane that served this script, trusting
# only it: every download is pinned to its certificate's public key, the binary is checked against
# SHA256SUMS, and a failed step leaves nothing half-installed.
#
#   curl -fsS -k --pinnedpubkey 'sha256//…' https://CONTROL:8000/install.sh | sudo MYX_ENROLL_TOKEN=… sh -s -- [options]
#
# Served by a myx control plane (version @MYX_VERSION@) at GET /install.sh, which fills in its URL,
# its pin and the agent's systemd unit; the source is src/server/install/install.sh in myx.
# Everything runs from main() at the very end, so a download cut short runs nothing.

set -eu

SERVER_URL='@MYX_SERVER_URL@'
PINNED_PUBKEY='@MYX_PINNED_PUBKEY@'

usage() {
  cat <<'EOF'
Install:    curl … /install.sh | sudo MYX_ENROLL_TOKEN=TOKEN sh -s -- [options]
Uninstall:  curl … /install.sh | sudo sh -s -- --uninstall [--keep-config] [--prefix DIR]

Downloads myx-agent from the control plane (pinned, checked against SHA256SUMS), installs it to
/usr/local/bin/myx-agent, enrolls it (token from the environment variable MYX_ENROLL_TOKEN, never
from the command line), writes /etc/systemd/system/myx-agent.service and starts it. Running it
again is safe: an enrolled host keeps its identity; the binary and the unit are brought up to date.

  --name NAME               agent name (default: this host's name)
  --label KEY=VALUE         label, for targeting with `myx run --label` (repeatable)
  --no-web                  poll mode: no web service; the agent fetches its commands
  --web-port N              port of the agent's web service (default 8443)
  --bind ADDR               address the web service listens on (default 0.0.0.0)
  --advertise-address ADDR  address the control plane pushes to (NAT, several interfaces)
  --prefix DIR              every file under DIR (DIR/usr/local/bin, DIR/etc/...), and the unit
                            points there; no root needed. Starting links the unit into systemd.
  --no-start                write everything, start nothing, and print how to start
  --force                   enroll anew although this host is enrolled (an agent removed with
                            `myx agents remove` coming back): a new identity replaces the old
  --uninstall               stop the agent and remove its binary, unit and config
  --keep-config             with --uninstall: keep the config directory (identity, certificate)
  -h, --help                this help
EOF
}

say() { printf '%s\n' "$*"; }
die() {
  printf 'myx install: %s\n' "$*" >&2
  exit 1
}

# One word for sh, whatever it holds (for the enroll arguments, replayed with eval).
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

parse_args() {
  PREFIX=''
  NO_START=''
  UNINSTALL=''
  KEEP_CONFIG=''
  FORCE=''
  ENROLL_ARGS=''
  while [ $# -gt 0 ]; do
    case $1 in
      --*=*)
        opt=${1%%=*}
        val=${1#*=}
        shift
        set -- "$opt" "$val" "$@"
        continue
        ;;
    esac
    case $1 in
      --name | --label | --web-port | --bind | --advertise-address | --prefix)
        [ $# -ge 2 ] || die "$1 needs a value (see --help)"
        case $1 in
          --label) case $2 in [!=]*=*) ;; *) die "--label must be KEY=VALUE, got '$2'" ;; esac ;;
          --web-port) case $2 in '' | *[!0-9]*) die "--web-port must be a port number, got '$2'" ;; esac ;;
          --name) [ -n "$2" ] || die "--name must not be empty" ;;
        esac
        if [ "$1" = --prefix ]; then PREFIX=$2; else ENROLL_ARGS="$ENROLL_ARGS $1 $(quote "$2")"; fi
        shift 2
        ;;
      --no-web) ENROLL_ARGS="$ENROLL_ARGS --no-web"; shift ;;
      --no-start) NO_START=1; shift ;;
      --uninstall) UNINSTALL=1; shift ;;
      --keep-config) KEEP_CONFIG=1; shift ;;
      --force) FORCE=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
  done
  if [ -n "$PREFIX" ]; then
    case $PREFIX in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac
    case $PREFIX in *[!A-Za-z0-9/._-]*) die "--prefix may hold only letters, digits and / . _ - (it goes into the systemd unit), got '$PREFIX'" ;; esac
    while [ "${PREFIX%/}" != "$PREFIX" ]; do PREFIX=${PREFIX%/}; done
  fi
  [ -z "$KEEP_CONFIG" ] || [ -n "$UNINSTALL" ] || die "--keep-config goes with --uninstall"
  BIN_DIR="$PREFIX/usr/local/bin"
  BIN="$BIN_DIR/myx-agent"
  ETC_DIR="$PREFIX/etc"
  CONF_DIR="$ETC_DIR/myx-agent"
  CONF="$CONF_DIR/config.json"
  UNIT_DIR="$PREFIX/etc/systemd/system"
  UNIT="$UNIT_DIR/myx-agent.service"
}

# The line that runs this script again with other options (printed in the summaries).
again() {
  printf "curl -fsS -k --pinnedpubkey '%s' %s/install.sh | sudo sh -s -- %s%s" "$PINNED_PUBKEY" "$SERVER_URL" "$1" "${PREFIX:+ --prefix $PREFIX}"
}

require_root() {
  if [ -z "$PREFIX" ] && [ "$(id -u)" != 0 ]; then
    die "this needs root (it writes /usr/local/bin, /etc and a systemd unit): run it with sudo, as the line from \`myx token create\` does, or pass --prefix DIR to install under DIR"
  fi
}

systemd_running() { command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }

# True when systemd knows myx-agent.service as this very file (not another install's).
unit_is_ours() { [ "$(systemctl show -p FragmentPath --value myx-agent.service 2>/dev/null)" = "$UNIT" ]; }

# The value of a top-level string key of the config file `myx-agent enroll` writes (2-space JSON).
config_value() { sed -n "s/^  \"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$2" | head -n 1; }

# mkdir -p that remembers what it created, so that a failed install removes it again.
CREATED_DIRS=''
make_dir() {
  [ -d "$1" ] && return 0
  make_dir "$(dirname "$1")"
  mkdir -m 755 "$1"
  CREATED_DIRS="$1 $CREATED_DIRS"
}

STAGE=''
CONF_STAGE=''
UNIT_TMP=''
CHANGED=''
DONE=''
cleanup() {
  status=$?
  set +e
  [ -z "$STAGE" ] || rm -rf "$STAGE"
  [ -z "$CONF_STAGE" ] || rm -rf "$CONF_STAGE"
  [ -z "$UNIT_TMP" ] || rm -f "$UNIT_TMP"
  if [ "$status" != 0 ] && [ -z "$DONE" ]; then
    for d in $CREATED_DIRS; do rmdir "$d" 2>/dev/null; done
    if [ -z "$CHANGED" ]; then
      say "myx install: nothing was installed or changed on this host" >&2
    else
      say "myx install: stopped part-way; run the same line again to finish" >&2
    fi
  fi
}

# GET $SERVER_URL$1 into $2 over the pinned channel; a clear message for each way it can fail.
fetch() {
  code=0
  http=$(curl -sS -k -g --proto '=https' --pinnedpubkey "$PINNED_PUBKEY" --connect-timeout 20 -o "$2" -w '%{http_code}' "$SERVER_URL$1") || code=$?
  case $code in
    0) ;;
    90) die "the control plane at $SERVER_URL presented a certificate whose public key is not the pinned one ($PINNED_PUBKEY): refusing to download from it. If its certificate was replaced on purpose, create a new token there and use the line \`myx token create\` prints now" ;;
    *) die "could not download $SERVER_URL$1 (curl exit $code; its message is above)" ;;
  esac
  if [ "$http" != 200 ]; then
    msg=$(sed -n 's/.*"message":"\([^"]*\)".*/\1/p' "$2" | head -n 1)
    die "the control plane answered HTTP $http to GET $1${msg:+: $msg}"
  fi
}

# myx-agent enroll with this script's enrollment options. The token reaches it in its environment
# (MYX_ENROLL_TOKEN), never in its arguments.
enroll_into() {
  config=$1
  eval "set -- $ENROLL_ARGS"
  "$STAGE/myx-agent" enroll --server "$SERVER_URL" --config "$config" ${FORCE:+--force} "$@" >/dev/null
}

install_agent() {
  require_root
  for c in curl sha256sum sed cmp mktemp; do
    command -v "$c" >/dev/null 2>&1 || die "this installer needs '$c', which is not on the PATH"
  done
  if [ -z "$NO_START" ]; then
    systemd_running || die "systemd is not running on this host, so the agent cannot be started as a service: add --no-start to install it anyway (the end of the output then says how to start it)"
    if [ -n "$PREFIX" ] && [ -e /etc/systemd/system/myx-agent.service ] && ! unit_is_ours; then
      die "/etc/systemd/system/myx-agent.service exists and is not $UNIT: uninstall that agent first, or add --no-start"
    fi
  fi
  ENROLLED=''
  if [ -z "$FORCE" ] && [ -f "$CONF" ] && [ -n "$(config_value agent_token "$CONF")" ]; then ENROLLED=1; fi
  if [ -z "$ENROLLED" ] && [ -z "${MYX_ENROLL_TOKEN:-}" ]; then
    die "no enrollment token: MYX_ENROLL_TOKEN is not set. Create one on the control plane with \`myx token create\` and run the line it prints (it sets MYX_ENROLL_TOKEN)"
  fi

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  # 1. Download and verify, beside the binary's final place (same file system: the move is a rename;
  #    and not /tmp, which may be mounted noexec).
  make_dir "$BIN_DIR"
  STAGE=$(mktemp -d "$BIN_DIR/.myx-agent-install.XXXXXX")
  say "downloading myx-agent from $SERVER_URL (pinned public key $PINNED_PUBKEY)"
  fetch /downloads/SHA256SUMS "$STAGE/SHA256SUMS"
  fetch /downloads/myx-agent "$STAGE/myx-agent"
  expected=$(sed -n 's/^\([0-9a-f]\{64\}\) [ *]myx-agent$/\1/p' "$STAGE/SHA256SUMS" | head -n 1)
  [ -n "$expected" ] || die "the control plane's SHA256SUMS has no line for myx-agent"
  actual=$(sha256sum "$STAGE/myx-agent" | cut -d ' ' -f 1)
  [ "$actual" = "$expected" ] || die "checksum mismatch: the downloaded myx-agent has SHA-256 $actual, but the control plane's SHA256SUMS says $expected (a corrupted download, or the release was replaced while downloading: run the line again)"
  chmod 755 "$STAGE/myx-agent"
  version=$("$STAGE/myx-agent" --version 2>&1) || die "the downloaded myx-agent does not run on this host ($version): it needs Linux x64 with glibc 2.28 or newer, and $BIN_DIR must not be mounted noexec"
  say "checked: SHA-256 $actual matches SHA256SUMS (myx-agent $version)"

  # 2. Enroll into a staged config directory; it replaces the real one only once enrolled.
  if [ -n "$ENROLLED" ]; then
    AGENT_NAME=$(config_value name "$CONF")
    AGENT_ID=$(config_value agent_id "$CONF")
    ENROLL_STATE="already enrolled: kept (MYX_ENROLL_TOKEN was not used)"
    [ -z "$ENROLL_ARGS" ] || say "note: this host is enrolled already, so$ENROLL_ARGS changed nothing (edit $CONF, or add --force to enroll anew)"
  else
    make_dir "$ETC_DIR"
    CONF_STAGE=$(mktemp -d "$ETC_DIR/.myx-agent.XXXXXX")
    # A config directory left without an enrollment (by hand, or --keep-config) is the base.
    [ ! -d "$CONF_DIR" ] || cp -a "$CONF_DIR/." "$CONF_STAGE/"
    say "enrolling with $SERVER_URL"
    enroll_into "$CONF_STAGE/config.json" || die "enrollment failed (the reason is above)"
    AGENT_NAME=$(config_value name "$CONF_STAGE/config.json")
    AGENT_ID=$(config_value agent_id "$CONF_STAGE/config.json")
    ENROLL_STATE="enrolled now"
  fi

  # 3. Move into place: each step is a rename.
  CHANGED=1
  if [ -f "$BIN" ] && cmp -s "$STAGE/myx-agent" "$BIN"; then
    BIN_STATE='unchanged'
  else
    if [ -f "$BIN" ]; then BIN_STATE='updated'; else BIN_STATE='installed'; fi
    mv -f "$STAGE/myx-agent" "$BIN"
  fi
  if [ -n "$CONF_STAGE" ]; then
    if [ -e "$CONF_DIR" ]; then
      mv "$CONF_DIR" "$CONF_STAGE.old"
      mv "$CONF_STAGE" "$CONF_DIR"
      rm -rf "$CONF_STAGE.old"
    else
      mv "$CONF_STAGE" "$CONF_DIR"
    fi
    CONF_STAGE=''
  fi
  make_dir "$UNIT_DIR"
  UNIT_TMP=$(mktemp "$UNIT_DIR/.myx-agent.service.XXXXXX")
  agent_unit >"$UNIT_TMP"
  chmod 644 "$UNIT_TMP"
  if [ -f "$UNIT" ] && cmp -s "$UNIT_TMP" "$UNIT"; then
    UNIT_STATE='unchanged'
    rm -f "$UNIT_TMP"
  else
    if [ -f "$UNIT" ]; then UNIT_STATE='rewritten'; else UNIT_STATE='written'; fi
    mv -f "$UNIT_TMP" "$UNIT"
  fi
  UNIT_TMP=''

  # 4. Start (or say how).
  if [ -n "$NO_START" ]; then
    SERVICE_STATE="not started (--no-start)"
  else
    [ -z "$PREFIX" ] || systemctl link "$UNIT" >/dev/null
    systemctl daemon-reload
    if systemctl is-active --quiet myx-agent.service && { [ "$BIN_STATE" != unchanged ] || [ "$UNIT_STATE" != unchanged ] || [ -z "$ENROLLED" ]; }; then
      systemctl restart myx-agent.service
      SERVICE_STATE="restarted to take the new binary, unit or enrollment (commands it was running ended cancelled), enabled at boot"
    else
      SERVICE_STATE="started, enabled at boot"
    fi
    systemctl enable --now --quiet myx-agent.service
  fi
  DONE=1

  say ""
  say "myx agent installed on this host:"
  say "  agent    $AGENT_NAME ($AGENT_ID), $ENROLL_STATE; control plane $SERVER_URL"
  say "  binary   $BIN (version $version, $BIN_STATE)"
  say "  config   $CONF (0600: it holds the agent's token), its certificate in $CONF_DIR/ssl/"
  say "  unit     $UNIT ($UNIT_STATE)"
  say "  service  $SERVICE_STATE"
  if [ -n "$NO_START" ]; then
    say "Start it as a service with:"
    if [ -n "$PREFIX" ]; then say "  systemctl link $UNIT && systemctl enable --now myx-agent"; else say "  systemctl daemon-reload && systemctl enable --now myx-agent"; fi
    say "or by hand:  $BIN --config $CONF"
  else
    say "Check it:   systemctl status myx-agent; journalctl -u myx-agent -f; on the control plane: myx agents"
  fi
  say "Uninstall:  $(again --uninstall)"
  say "            then, on the control plane: myx agents remove $AGENT_NAME"
}

uninstall_agent() {
  require_root
  AGENT_NAME=''
  [ ! -f "$CONF" ] || AGENT_NAME=$(config_value name "$CONF")
  if systemd_running && unit_is_ours; then
    systemctl disable --now --quiet myx-agent.service || die "could not stop myx-agent.service (see above); nothing was removed"
    say "stopped and disabled myx-agent.service"
  elif [ -f "$UNIT" ]; then
    say "systemd does not run $UNIT here: if a myx-agent runs by hand, stop it yourself"
  fi
  for f in "$BIN" "$BIN.previous" "$UNIT"; do  # .previous: the backup an upgrade keeps
    if [ -e "$f" ]; then rm -f "$f" && say "removed $f"; fi
  done
  if systemd_running; then systemctl daemon-reload; fi
  if [ -d "$CONF_DIR" ]; then
    if [ -n "$KEEP_CONFIG" ]; then
      say "kept $CONF_DIR (the agent's identity and token: installing again reuses them)"
    else
      rm -rf "$CONF_DIR" && say "removed $CONF_DIR"
    fi
  fi
  if [ -n "$AGENT_NAME" ]; then
    say "On the control plane, finish with:  myx agents remove $AGENT_NAME"
    say "(until then \`myx agents\` lists it as offline, and its token stays valid)"
  else
    say "No config was found, so the agent's name is unknown: remove it on the control plane with \`myx agents remove NAME\` (\`myx agents\` lists them)"
  fi
}

agent_unit() {
  sed -e "s|@BIN@|$BIN|g" -e "s|@CONFIG@|$CONF|g" <<'UNIT'
@MYX_AGENT_UNIT@
UNIT
}

main() {
  parse_args "$@"
  if [ -n "$UNINSTALL" ]; then uninstall_agent; else install_agent; fi
}

# stdin is the rest of this script when piped into sh: no command may read it
main "$@" </dev/null
