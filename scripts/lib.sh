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

# Registers a command to run when the calling script exits, after those registered before it
# (one EXIT trap serves every helper here).
on_exit_commands=()
run_on_exit() { local command; for command in "${on_exit_commands[@]}"; do eval "$command" || true; done; }
on_exit() { # command...
  on_exit_commands+=("$*")
  trap run_on_exit EXIT
}

# Makes `sam local` runnable with arm64 functions: Debian's Docker engine (started when none
# answers, and stopped again on exit if it was started here), the qemu-aarch64 binfmt handler with
# the F flag (so that arm64 binaries run inside containers), and the provided.al2023 stand-in
# image. Fails loudly when any of it cannot be had: the sam local tests are never skipped.
prepare_sam_local() {
  install_debian_packages dockerd=docker.io qemu-aarch64-static=qemu-user-static update-binfmts=binfmt-support
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    "${sudo[@]}" mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    "${sudo[@]}" update-binfmts --enable qemu-aarch64
  fi
  if ! grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    echo "the qemu-aarch64 binfmt handler lacks the F flag, so arm64 binaries cannot run in containers:" >&2
    cat /proc/sys/fs/binfmt_misc/qemu-aarch64 >&2
    exit 1
  fi
  if ! docker info >/dev/null 2>&1; then
    mkdir -p target
    "${sudo[@]}" dockerd --host unix:///var/run/docker.sock > target/dockerd.log 2>&1 &
    dockerd_pid=$!
    on_exit 'stop_dockerd'
    local waited=0
    until docker info >/dev/null 2>&1; do
      if [ $waited -ge 60 ] || ! kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "dockerd did not start; its log:" >&2
        cat target/dockerd.log >&2
        exit 1
      fi
      sleep 1; waited=$((waited + 1))
    done
    echo "started dockerd (pid $dockerd_pid, log: target/dockerd.log); it stops when this script ends"
  fi
  ./scripts/provided-al2023-standin
}

# Stops the dockerd that prepare_sam_local started, and the containers it still runs.
stop_dockerd() {
  docker ps -q --filter label=sam.cli.container.type=lambda | xargs -r docker rm -f >/dev/null 2>&1
  kill "$dockerd_pid" 2>/dev/null
  local waited=0
  while kill -0 "$dockerd_pid" 2>/dev/null && [ $waited -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
}

# Starts the DynamoDB test server on a free loopback port, stops it when the calling script exits,
# and exports its URL as MOTO_ENDPOINT. Fails loudly if it does not come up.
start_dynamodb_test_server() {
  mkdir -p target
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  .venv/bin/python scripts/dynamodb_test_server.py "$port" > target/moto-server.log 2>&1 &
  moto_pid=$!
  on_exit 'kill "$moto_pid" 2>/dev/null' 
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
