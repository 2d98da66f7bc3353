# Shared by scripts/test and scripts/bench (sourced, not run).

# Each step says how long the script has run so far, so a slow step shows in any log.
step() { printf '\n==> %s (at %ds)\n' "$*" "$SECONDS"; }

# Outputs that depend only on their inputs are kept here, outside the clone, under a hash of
# exactly those inputs, so that another clone of the same commit on this machine (CI's) reuses
# them. `USERS_TEST_REBUILD=1` (what `./scripts/test --rebuild` sets) makes them again.
test_cache=${USERS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/users-api-tests}

# Prints a short hash of stdin and of the names and contents of the files under `paths` (those
# that exist; `target` directories left out), in a fixed order: what a cached output depends on.
# Names are relative to the current directory and times are not hashed, so every clone of one
# commit gets the same key.
content_key() { # paths...
  local path existing=()
  for path in "$@"; do [ -e "$path" ] && existing+=("$path"); done
  {
    cat
    if [ ${#existing[@]} -gt 0 ]; then
      find "${existing[@]}" -name target -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    fi
  } | sha256sum | cut -c1-16
}

# What `sam build`'s artifacts are made from: the toolchain, the template and SAM's settings, the
# lock file and every manifest (features are unified across the workspace), the sources of the
# crates the functions use, and the pinned SAM CLI and cargo-lambda versions.
sam_build_key() {
  local manifests
  mapfile -t manifests < <(find . -name target -prune -o -path './.*' -prune -o -name Cargo.toml -print)
  { rustc -vV; uname -m; } | content_key template.yaml samconfig.toml Cargo.lock "${manifests[@]}" \
    shared functions .cargo rust-toolchain rust-toolchain.toml \
    scripts/requirements-sam.txt scripts/requirements-test.txt
}

# Holds `lock_fd` on an exclusive lock of `path`.lock, so that two runs on one machine (a session's
# and CI's) never make or read one cache entry at the same time.
lock_entry() { # path
  mkdir -p "$(dirname "$1")"
  exec {lock_fd}>"$1.lock"
  flock "$lock_fd"
}

# Keeps the `keep` most recently used entries of a cache directory and removes the rest.
prune_cache() { # directory keep
  local old
  for old in $(ls -t "$1" | grep -v '\.lock$' | tail -n +"$(($2 + 1))"); do
    rm -rf "${1:?}/$old" "$1/$old.lock"
  done
}

# Makes `output` (a path in the clone) with `command`, or restores it from the cache entry of
# `kind` for `key` when that entry is complete; stores what `command` made for the next run.
cached_output() { # kind key output command...
  local kind=$1 key=$2 output=$3 entry
  shift 3
  entry="$test_cache/$kind/$key"
  lock_entry "$entry"
  if [ "${USERS_TEST_REBUILD:-}" != 1 ] && [ -e "$entry/complete" ]; then
    rm -rf "$output"
    cp -a "$entry/output" "$output"
    touch "$entry"
    echo "$output: reused from $entry (inputs unchanged)"
  else
    "$@"
    rm -rf "$entry"
    mkdir -p "$entry"
    cp -a "$output" "$entry/output"
    touch "$entry/complete"
    echo "$output: made, and kept in $entry"
  fi
  exec {lock_fd}>&-
  prune_cache "$test_cache/$kind" 4
}

# Links `link` (e.g. `.venv`) to a virtualenv in the cache holding a requirements file, made only
# when none holds exactly that file for this Python (virtualenvs cannot be moved, so the clone
# gets a link rather than a copy).
install_venv() { # link requirements
  local key venv
  key=$(python3 --version | content_key "$2")
  venv="$test_cache/venvs/$(basename "$1")-$key"
  lock_entry "$venv"
  if [ "${USERS_TEST_REBUILD:-}" = 1 ] || [ ! -e "$venv/.complete" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$2"
    touch "$venv/.complete"
  fi
  touch "$venv"
  exec {lock_fd}>&-
  local old
  for old in $(ls -t "$test_cache/venvs" | grep -E "^$(basename "$1")-[0-9a-f]{16}$" | tail -n +4); do
    rm -rf "${test_cache:?}/venvs/$old" "$test_cache/venvs/$old.lock"
  done
  [ -L "$1" ] || rm -rf "$1"
  ln -sfn "$venv" "$1"
  echo "$1 -> $venv"
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

# Registers a command to run when the calling script exits, before those registered before it
# (last in, first out, as things are taken down in the reverse order they were set up; one EXIT
# trap serves every helper here).
on_exit_commands=()
run_on_exit() {
  exit_status=$?
  local index
  for ((index = ${#on_exit_commands[@]} - 1; index >= 0; index--)); do
    eval "${on_exit_commands[index]}" || true
  done
}
on_exit() { # command...
  on_exit_commands+=("$*")
  trap run_on_exit EXIT
}

# Phases: each says when it starts, and what it took goes into the table `print_phase_table`
# prints at the end, failed or not. A phase in the background writes to target/phase-<name>.log,
# shown whole when it is awaited, so that its output never interleaves with another's.
script_started=$(date +%s)
phase_rows=()
declare -A background_pids=() background_started=()
seconds_so_far() { echo $(($(date +%s) - script_started)); }
record_phase() { # name started ended status
  phase_rows+=("$(printf '%-26s %6ss %6ss %6ss  %s' "$1" "$2" "$3" "$(($3 - $2))" "$4")")
}

phase() { # name command...
  local name=$1 started
  shift
  step "$name"
  started=$(seconds_so_far)
  current_phase="$name $started"
  "$@"
  current_phase=
  record_phase "$name" "$started" "$(seconds_so_far)" ok
}

in_background() { # name command...
  local name=$1 log="target/phase-${1// /-}"
  shift
  mkdir -p target
  step "$name: in the background ($log.log, shown when awaited)"
  background_started[$name]=$(seconds_so_far)
  (
    trap 'seconds_so_far > "$log.ended"' EXIT
    "$@"
  ) > "$log.log" 2>&1 &
  background_pids[$name]=$!
}

await() { # name
  local name=$1 log="target/phase-${1// /-}" status=0 ended
  wait "${background_pids[$name]}" || status=$?
  unset "background_pids[$name]"
  ended=$(cat "$log.ended" 2>/dev/null || seconds_so_far)
  step "$name: ran in the background from ${background_started[$name]}s to ${ended}s; its output:"
  cat "$log.log"
  if [ "$status" != 0 ]; then
    record_phase "$name" "${background_started[$name]}" "$ended" "FAILED"
    echo "$name failed (exit status $status): its output is just above ($log.log)" >&2
    exit "$status"
  fi
  record_phase "$name" "${background_started[$name]}" "$ended" ok
}

# Stops what still runs in the background (a failure elsewhere ended the script), children first.
stop_background() {
  local name
  for name in "${!background_pids[@]}"; do
    kill_tree "${background_pids[$name]}"
    record_phase "$name" "${background_started[$name]}" "$(seconds_so_far)" "stopped"
  done
}
kill_tree() { # pid
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

print_phase_table() {
  if [ -n "${current_phase:-}" ]; then
    record_phase "${current_phase% *}" "${current_phase##* }" "$(seconds_so_far)" FAILED
  fi
  printf '\n%-26s %7s %7s %7s\n' phase from to took
  printf '%s\n' "${phase_rows[@]}"
  printf 'total %ss, exit status %s\n' "$(seconds_so_far)" "${exit_status:-0}"
}

# Registers the arm64 binfmt handler with the F flag (so that arm64 binaries run inside
# containers, for `sam local`), mounting binfmt_misc first when needed. Needs qemu-user-static
# and binfmt-support.
enable_arm64_binfmt() {
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
}

# Starts Debian's Docker engine when none answers, and stops it again when the calling script
# exits. Fails loudly when it does not come up: the sam local tests are never skipped.
start_docker() {
  docker info >/dev/null 2>&1 && { echo "a Docker engine already answers"; return 0; }
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
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
}

# Stops the dockerd that start_docker started, and the containers it still runs.
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
