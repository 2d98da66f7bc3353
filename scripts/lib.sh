# Shared by scripts/test, scripts/bench and scripts/startup-order (sourced, not run).

step() { printf '\n==> %s\n' "$*"; }

# Installs a requirements file into a virtualenv, again only when the file has changed.
install_venv() { # venv requirements
  if ! cmp -s "$2" "$1/.installed-requirements" 2>/dev/null; then
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
    cp "$2" "$1/.installed-requirements"
  fi
}

# Installs a Debian package that provides `command`, unless the command is already there.
install_debian_package() { # command package
  if ! command -v "$1" >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$2"; else sudo apt-get install -y "$2"; fi
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
