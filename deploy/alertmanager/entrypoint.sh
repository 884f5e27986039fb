#!/bin/sh
# Renders Alertmanager's configuration, then runs Alertmanager with the arguments given.
#   alertmanager.yml + receivers/$SIGNPOST_ALERT_RECEIVER.yml (webhook | slack | email)
# ${NAME} (outside comments) is replaced by the environment variable NAME (${NAME:-default} when unset); a variable
# that is unset without a default stops here, naming it, rather than start a silent Alertmanager.
# Alertmanager 0.25 reads no environment variables itself, hence this step.
#   ALERTMANAGER_CONFIG_OUT   where to write the result (default /tmp/alertmanager.yml)
#   ALERTMANAGER_BIN          the binary (default alertmanager; Debian's is prometheus-alertmanager)
#   RENDER_ONLY=1             write the file and exit (tests, and checking your settings)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kind=${SIGNPOST_ALERT_RECEIVER:-webhook}
receivers="$here/receivers/$kind.yml"
out=${ALERTMANAGER_CONFIG_OUT:-/tmp/alertmanager.yml}
if [ ! -f "$receivers" ]; then
  echo "SIGNPOST_ALERT_RECEIVER=$kind: no such receiver (one of: $(cd "$here/receivers" && ls | sed 's/\.yml$//' | tr '\n' ' '))" >&2
  exit 2
fi
awk '
  /^[ \t]*#/ { print; next }  # comments name variables; they are not filled in
  {
    line = $0; result = ""
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}/)) {
      spec = substr(line, RSTART + 2, RLENGTH - 3)
      name = spec; fallback = ""; has_default = 0
      if ((i = index(spec, ":-")) > 0) { name = substr(spec, 1, i - 1); fallback = substr(spec, i + 2); has_default = 1 }
      if (name in ENVIRON && ENVIRON[name] != "") value = ENVIRON[name]
      else if (has_default) value = fallback
      else { print "alertmanager: " name " is not set" > "/dev/stderr"; failed = 1; value = "" }
      result = result substr(line, 1, RSTART - 1) value
      line = substr(line, RSTART + RLENGTH)
    }
    print result line
  }
  END { exit failed }
' "$here/alertmanager.yml" "$receivers" > "$out"
[ "${RENDER_ONLY:-0}" = "1" ] && exit 0
exec "${ALERTMANAGER_BIN:-alertmanager}" --config.file="$out" "$@"
