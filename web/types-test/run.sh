#!/usr/bin/env bash
# Type test of the browser client's declarations (web/static/client.d.ts).
# Installs the pinned TypeScript and the client package (@routerd/client,
# "file:../static", as an app bundling it would) with npm ci when they are
# missing, then runs tsc over usage.ts (every API, and mistakes it must
# refuse) and drift.ts (the declarations against client.js), resolving the
# package as bundlers do and as Node does, and finally imports the package
# in Node. Works from a clean clone:
#   bash web/types-test/run.sh
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi
mkdir -p impl
cp ../static/client.js impl/client.js
npx --no -- tsc --noEmit -p tsconfig.json
npx --no -- tsc --noEmit -p tsconfig.json --module nodenext --moduleResolution nodenext
node --input-type=module -e '
  import { RouterClient, Namespace, RouterError } from "@routerd/client";
  new RouterClient("ws://127.0.0.1:1/ws"); // opens nothing until connect()
  if (typeof Namespace !== "function" || !(new RouterError("closed") instanceof Error)) process.exit(1);
'
echo "client.d.ts: types check"
