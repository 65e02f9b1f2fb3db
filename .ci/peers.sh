#!/usr/bin/env bash
# Installs the npm packages that tests use as independent peers (GitHub's
# signing, Linear's verifier, GitHub's example payloads) into .ci/node, outside
# the committed tree. Tests find them through REPLICAS_NODE_PEERS.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node/node_modules/@octokit/webhooks-methods ] || [ ! -d node/node_modules/@linear/sdk ]; then
  mkdir -p node
  (cd node && npm init -y >/dev/null 2>&1 && npm install --no-audit --no-fund --silent @octokit/webhooks-methods@5 @linear/sdk >/dev/null)
fi
echo "peers: $(cd node && node -e 'console.log(Object.keys(require("./package.json").dependencies).join(", "))')"
