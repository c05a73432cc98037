#!/usr/bin/env bash
# Install everything the test suite needs, then run it. Usage: bash tools/run_tests.sh [pytest args]
# As root it also installs the system packages (espeak-ng and sox for real speech, chromium for browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for cmd in espeak-ng sox chromium ffmpeg; do command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"; done
  if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends espeak-ng sox chromium ffmpeg >/dev/null
  fi
fi

PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt

export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# Two workers (one per core of the 2-core CI box; every test keeps torch to one thread), a test module per worker so
# its module-scoped fixtures (WebUI processes, tiny models) are built once. GSV_TEST_WORKERS=0 runs serially.
WORKERS=${GSV_TEST_WORKERS:-2}
if [ "$WORKERS" = "0" ]; then
  exec "$PY" -m pytest "$@"
fi
exec "$PY" -m pytest -n "$WORKERS" --dist loadfile "$@"
