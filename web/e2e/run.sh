#!/usr/bin/env bash
# Browser end-to-end tests: the chat page (chat.test.mjs), its assistant
# with a stub model (assistant.test.mjs), Socket.IO (socketio.test.mjs),
# the acks backends ask of /client.js (clientacks.test.mjs), the official
# Socket.IO Admin UI on a two-node cluster (adminui.test.mjs) and routerd's
# own admin console on a two-node cluster (adminconsole.test.mjs).
# Installs Debian's Chromium and the pinned npm packages when they are
# missing, then runs the tests with Node's built-in test runner. Works from
# a clean clone:
#   bash web/e2e/run.sh
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi
exec node --test --test-timeout=300000 chat.test.mjs assistant.test.mjs socketio.test.mjs clientacks.test.mjs adminui.test.mjs adminconsole.test.mjs
