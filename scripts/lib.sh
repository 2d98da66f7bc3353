# Shared by scripts/test and scripts/bench (sourced, not run).

# Each step says how long the script has run so far, so a slow step shows in any log.
step() { printf '\n==> %s (at %ds)\n' "$*" "$SECONDS"; }

# Installs a requirements file into a virtualenv, again only when the file has changed.
install_venv() { # venv requirements
  if ! cmp -s "$2" "$1/.installed-requirements" 2>/dev/null; then
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
    cp "$2" "$1/.installed-requirements"
  fi
}

# Installs the Debian packages that are missing, in one apt-get run. Each argument is
# `what=package`, where `what` is a command the package provides or an absolute path it installs.
# Fails loudly when they cannot be installed: the steps that need them are never skipped.
install_debian_packages() { # what=package...
  local wanted=() pair what
  for pair in "$@"; do
    what=${pair%%=*}
    if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
    wanted+=("${pair#*=}")
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${wanted[@]}"; }; then
    echo "cannot install the Debian packages ${wanted[*]}; the steps after this one need them" >&2
    exit 1
  fi
}

# Starts the DynamoDB test server on a free loopback port, stops it when the calling script exits,
# and exports its URL as MOTO_ENDPOINT. Fails loudly if it does not come up.
start_dynamodb_test_server() {
  mkdir -p target
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  .venv/bin/python scripts/dynamodb_test_server.py "$port" > target/moto-server.log 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
  if ! python3 - "$port" <<'PY'
import socket, sys, time
deadline = time.time() + 60
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
  then
    echo "the DynamoDB test server (moto) did not start on port $port; its log:" >&2
    cat target/moto-server.log >&2
    exit 1
  fi
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
  echo "DynamoDB test server (moto) on $MOTO_ENDPOINT (log: target/moto-server.log)"
}
