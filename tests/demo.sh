#!/usr/bin/env bash
# tests/demo.sh: installs what is missing, builds herenow, and runs lighttpd
# in the foreground on 127.0.0.1:8080 (HERENOW_DEMO_PORT to change it)
# serving www/ with herenow behind /herenow/.  Ctrl-C stops everything.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${HERENOW_DEMO_PORT:-8080}
# herenow takes every HERENOW_* variable lighttpd hands on for a setting.
unset HERENOW_DEMO_PORT
state=$HN_BUILD/demo

hn_setup
conf=$(hn_standalone_conf "$state" "$port")

cat >&2 <<MSG

  herenow demo: http://127.0.0.1:$port/
  Open it in two tabs: both show 2 tabs (and 1 reader: tabs of one browser
  are one visitor; a private window or another browser makes 2 readers).
  Ctrl-C stops lighttpd and herenow.
  Database: $state/herenow.db
  Logs: $state/lighttpd-error.log, $state/herenow.log

MSG
exec lighttpd -D -f "$conf"
