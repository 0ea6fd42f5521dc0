#!/usr/bin/env bash
# Set up (once) and start CNN Playground at http://127.0.0.1:8000 with its embedded defaults.
# Extra arguments go to `cnn-playground serve` (e.g. --port 9000).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv ""
exec .venv/bin/cnn-playground serve "$@"
