#!/usr/bin/env bash
# Set up (once) and run the whole test suite: lint, type check, then pytest. CI runs exactly this.
# Extra arguments go to pytest (e.g. -k kernel -x).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv "[test]"
# The browser tests drive Debian's chromium (/usr/bin/chromium); the Redis-mode test starts
# its own redis-server, the topology test its own PostgreSQL.
ensure_debian_packages chromium redis-server postgresql
echo "==> ruff"
.venv/bin/ruff check app tests bench scripts
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
