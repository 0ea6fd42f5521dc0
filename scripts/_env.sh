# Shared by scripts/serve.sh and scripts/test.sh: a virtual environment in .venv with the
# project installed, (re)installed only when pyproject.toml changed. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "CNN Playground needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {  # $1: the extras to install, e.g. "[test]" or ""
  local extras="$1" stamp=".venv/.installed$1"
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$(find_python)" -m venv .venv
  fi
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing CNN Playground and its dependencies into .venv (first time: a few minutes)"
    .venv/bin/python -m pip install --upgrade --quiet pip
    .venv/bin/python -m pip install --progress-bar on -e ".$extras"
    echo "$want" > "$stamp"
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1; fi
}

ensure_debian_packages() {  # installs the named Debian packages that are missing
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "please install: ${missing[*]} (the browser tests need Debian's chromium)" >&2
    return 1
  fi
  echo "==> apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
