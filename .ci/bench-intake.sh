#!/usr/bin/env bash
# Webhook intake, side by side in one sitting: the same signed real
# issue_comment, the same senders (`replicas-gateway bench intake`), against
#   1. the gateway on PostgreSQL and on embedded SQLite: `bench serve` (the
#      acknowledgement path: serve without job workers) and `serve` (the
#      deliveries are processed while more arrive); with BEFORE=<git ref>,
#      also `serve` built from that ref,
#   3. a bare net/http handler: verify the HMAC, parse the payload, store nothing,
#   4. Probot (npm, a minimal app: verify, parse, dispatch, store nothing),
# and pgbench inserting the same payload durably, one row per transaction.
# Prints the table and the ratios. Not run by CI (timings are not asserted).
#
#   bash .ci/bench-intake.sh                      # 30 s per target, 32 senders
#   DURATION=10s CONCURRENCY=32 bash .ci/bench-intake.sh
#   BEFORE=4090148 bash .ci/bench-intake.sh       # with the version before group commit
#
# Needs PostgreSQL at BENCH_DATABASE_URL (default: the tests' database;
# scratch schemas are created and dropped), pgbench, node and npm (Probot is
# installed once into $BENCH_DIR/probot), jq and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30s} # whole seconds, such as 30s
CONCURRENCY=${CONCURRENCY:-32}
WARMUP=${WARMUP:-3s}
PGURL=${BENCH_DATABASE_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/replicas-bench-intake}
SQLITE_BEFORE=${SQLITE_BEFORE:-705} # req/s of the gateway on SQLite before group commit (README)
SECRET=bench-$RANDOM$RANDOM
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
mkdir -p "$BENCH_DIR"
RUN=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"/*-data "$RUN/before" # the databases the gateways filled (GBs); results and logs stay
  psql -q "$PGURL" -c 'DROP SCHEMA IF EXISTS bench_intake_gw CASCADE' -c 'DROP SCHEMA IF EXISTS bench_intake_pgbench CASCADE' >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "building replicas-gateway" >&2
go build -o "$RUN/replicas-gateway" ./cmd/replicas-gateway
BIN=$RUN/replicas-gateway

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

# wait_http URL: until it answers (any status), at most 30 s.
wait_http() {
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "$1 never answered" >&2
  return 1
}

# load NAME URL: the measurement, as one JSON line in $RUN/NAME.json.
load() {
  echo "load: $1 ($DURATION, $CONCURRENCY senders)" >&2
  "$BIN" bench intake --url "$2" --secret "$SECRET" --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --json > "$RUN/$1.json"
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# gateway NAME postgres|sqlite BINARY COMMAND...: start the gateway, load it, stop it.
gateway() {
  local name=$1 db=$2 bin=$3; shift 3
  local p; p=$(port)
  local vars=(REPLICAS_ADDR=127.0.0.1:$p REPLICAS_DATA_DIR="$RUN/$name-data" GITHUB_WEBHOOK_SECRET=$SECRET)
  if [[ $db == postgres ]]; then
    psql -q "$PGURL" -c 'DROP SCHEMA IF EXISTS bench_intake_gw CASCADE' -c 'CREATE SCHEMA bench_intake_gw' >/dev/null 2>&1
    local sep='?'; [[ $PGURL == *\?* ]] && sep='&'
    vars+=(DATABASE_URL="$PGURL${sep}search_path=bench_intake_gw" REPLICAS_ENCRYPTION_KEY=$(openssl rand -base64 32))
  fi
  env "${vars[@]}" "$bin" "$@" > "$RUN/$name.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  wait_http "http://127.0.0.1:$p/readyz"
  load "$name" "http://127.0.0.1:$p/webhooks/github"
  stop "$pid"
}

# 1. The gateway: the acknowledgement path alone (`bench serve`: serve
# without job workers), then `serve` as it runs, processing each delivery
# while more arrive. BEFORE=<git ref> adds `serve` of that version.
gateway gateway-postgres postgres "$BIN" bench serve
gateway gateway-sqlite sqlite "$BIN" bench serve
gateway serve-postgres postgres "$BIN" serve
gateway serve-sqlite sqlite "$BIN" serve
if [[ -n ${BEFORE:-} ]]; then
  echo "building $BEFORE" >&2
  mkdir -p "$RUN/before"
  git archive "$BEFORE" | tar -x -C "$RUN/before"
  (cd "$RUN/before" && go build -o "$RUN/replicas-gateway-before" ./cmd/replicas-gateway)
  gateway before-postgres postgres "$RUN/replicas-gateway-before" serve
  gateway before-sqlite sqlite "$RUN/replicas-gateway-before" serve
fi

# 3. The bare net/http handler.
P=$(port)
"$BIN" bench bare --addr 127.0.0.1:$P --secret "$SECRET" 2> "$RUN/bare.log" &
pid=$!; PIDS+=("$pid")
wait_http "http://127.0.0.1:$P/"
load bare-net-http "http://127.0.0.1:$P/webhooks/github"
stop "$pid"

# 4. Probot, installed once; its own `probot run` server with default logging.
if [[ ! -x $BENCH_DIR/probot/node_modules/.bin/probot ]]; then
  echo "installing probot into $BENCH_DIR/probot" >&2
  mkdir -p "$BENCH_DIR/probot"
  echo '{"name":"replicas-bench-probot","private":true,"type":"module"}' > "$BENCH_DIR/probot/package.json"
  (cd "$BENCH_DIR/probot" && npm install --silent --no-audit --no-fund probot@14 >&2)
fi
cat > "$BENCH_DIR/probot/app.js" <<'EOF'
// The smallest useful app: look for the mention in a new comment.
export default (app) => {
  app.on("issue_comment.created", async (context) => {
    context.payload.comment.body.includes("@tryreplicas");
  });
};
EOF
[[ -f $BENCH_DIR/probot/key.pem ]] || openssl genrsa -out "$BENCH_DIR/probot/key.pem" 2048 2>/dev/null
P=$(port)
(cd "$BENCH_DIR/probot" && APP_ID=1 PRIVATE_KEY="$(cat key.pem)" WEBHOOK_SECRET=$SECRET HOST=127.0.0.1 PORT=$P \
  exec node node_modules/probot/bin/probot.js run ./app.js) > "$RUN/probot.log" 2>&1 &
pid=$!; PIDS+=("$pid")
wait_http "http://127.0.0.1:$P/"
PROBOT_VERSION=$(node -p "require('$BENCH_DIR/probot/node_modules/probot/package.json').version")
load probot "http://127.0.0.1:$P/api/github/webhooks"
stop "$pid"

# 5. pgbench: the same payload inserted durably, one row per transaction,
# into a table shaped like deliveries (same unique key and indexes, the body
# compressed with lz4 as intake's migration 0003 sets it where the server has lz4).
"$BIN" bench payload > "$RUN/payload.json"
psql -q "$PGURL" <<EOF >/dev/null
DROP SCHEMA IF EXISTS bench_intake_pgbench CASCADE;
CREATE SCHEMA bench_intake_pgbench;
CREATE TABLE bench_intake_pgbench.deliveries (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, delivery_id TEXT NOT NULL, event TEXT NOT NULL,
    body BYTEA NOT NULL, received_at TIMESTAMPTZ NOT NULL, org_id TEXT,
    outcome TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', workspace_id TEXT NOT NULL DEFAULT '',
    job_id BIGINT, processed_at TIMESTAMPTZ, UNIQUE (source, delivery_id));
CREATE INDEX ON bench_intake_pgbench.deliveries (org_id, received_at);
CREATE INDEX ON bench_intake_pgbench.deliveries (received_at) WHERE length(body) > 0;
CREATE TABLE bench_intake_pgbench.payload (body BYTEA NOT NULL);
DO \$\$ BEGIN EXECUTE 'ALTER TABLE bench_intake_pgbench.deliveries ALTER COLUMN body SET COMPRESSION lz4'; EXCEPTION WHEN feature_not_supported OR syntax_error THEN NULL; END \$\$;
EOF
psql -q "$PGURL" -v ON_ERROR_STOP=1 -v content="$(cat "$RUN/payload.json")" <<'EOF' >/dev/null
INSERT INTO bench_intake_pgbench.payload VALUES (convert_to(:'content', 'UTF8'));
EOF
cat > "$RUN/insert.sql" <<'EOF'
INSERT INTO bench_intake_pgbench.deliveries (id, source, delivery_id, event, body, received_at)
SELECT 'dlv_' || md5(random()::text), 'github', gen_random_uuid()::text, 'issue_comment.created', body, now()
FROM bench_intake_pgbench.payload;
EOF
PGBENCH_COMPRESSION=$(psql -qtA "$PGURL" -c "SELECT CASE attcompression WHEN 'l' THEN 'lz4' WHEN 'p' THEN 'pglz' ELSE 'default (' || current_setting('default_toast_compression') || ')' END FROM pg_attribute WHERE attrelid = 'bench_intake_pgbench.deliveries'::regclass AND attname = 'body'")
echo "load: pgbench ($DURATION, $CONCURRENCY clients, body compression $PGBENCH_COMPRESSION)" >&2
SECS=${DURATION%s}
(cd "$RUN" && pgbench -n -c "$CONCURRENCY" -j 2 -T "$SECS" -l -f insert.sql "$PGURL" > pgbench.out 2> pgbench.err)
TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$RUN/pgbench.out" | tail -n1)
read -r PG50 PG99 < <(cat "$RUN"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int(NR*0.5)+1]/1000, a[int(NR*0.99)+1]/1000}')
jq -n --argjson tps "$TPS" --argjson p50 "$PG50" --argjson p99 "$PG99" \
  '{req_per_s: $tps, p50_ms: $p50, p99_ms: $p99, errors: 0}' > "$RUN/pgbench.json"

# The table and the ratios.
row() { jq -r --arg n "$1" '"| \($n) | \(.req_per_s|floor) | \(.p50_ms) ms | \(.p99_ms) ms | \(.errors) |"' "$RUN/$2.json"; }
rate() { jq -r '.req_per_s' "$RUN/$1.json"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
PAYLOAD_BYTES=$(jq -r .payload_bytes "$RUN/gateway-postgres.json")
echo
echo "Webhook intake: ${PAYLOAD_BYTES}-byte signed issue_comment, $CONCURRENCY concurrent senders, $DURATION each, loopback"
echo "($(nproc) cores, load average before: $LOAD_BEFORE; $(psql -qtA "$PGURL" -c 'SHOW server_version') ; Probot $PROBOT_VERSION on Node $(node --version))"
echo
echo "| target | req/s | p50 | p99 | errors |"
echo "| --- | --- | --- | --- | --- |"
row "gateway on PostgreSQL, acknowledgement path (bench serve)" gateway-postgres
row "gateway on SQLite, acknowledgement path (bench serve)" gateway-sqlite
row "gateway on PostgreSQL, serve (processing runs alongside)" serve-postgres
row "gateway on SQLite, serve (processing runs alongside)" serve-sqlite
if [[ -n ${BEFORE:-} ]]; then
  row "before ($BEFORE) on PostgreSQL, serve" before-postgres
  row "before ($BEFORE) on SQLite, serve" before-sqlite
fi
row "bare net/http: HMAC + go-github parse, stores nothing" bare-net-http
row "Probot $PROBOT_VERSION: verify + parse + dispatch, stores nothing" probot
row "pgbench: one durable insert of the payload per transaction (body $PGBENCH_COMPRESSION)" pgbench
echo
GP=$(rate gateway-postgres); GL=$(rate gateway-sqlite); PR=$(rate probot); PB=$(rate pgbench); BARE=$(rate bare-net-http)
SP=$(rate serve-postgres); SL=$(rate serve-sqlite)
echo "gateway PostgreSQL / pgbench single inserts: $(ratio "$GP" "$PB")×  (serve: $(ratio "$SP" "$PB")×; target ≥ 0.5)"
echo "gateway PostgreSQL / Probot:                 $(ratio "$GP" "$PR")×  (serve: $(ratio "$SP" "$PR")×; target ≥ 1.0)"
echo "gateway PostgreSQL p99:                      $(jq -r .p99_ms "$RUN/gateway-postgres.json") ms  (serve: $(jq -r .p99_ms "$RUN/serve-postgres.json") ms; target < 50)"
echo "gateway PostgreSQL / bare net/http:          $(ratio "$GP" "$BARE")×"
echo "gateway SQLite / README's before ($SQLITE_BEFORE/s): $(ratio "$GL" "$SQLITE_BEFORE")×  (serve: $(ratio "$SL" "$SQLITE_BEFORE")×; target ≥ 3)"
if [[ -n ${BEFORE:-} ]]; then
  echo "serve, after / before ($BEFORE): PostgreSQL $(ratio "$SP" "$(rate before-postgres)")×, SQLite $(ratio "$SL" "$(rate before-sqlite)")×"
  echo "acknowledgement path / before's serve: PostgreSQL $(ratio "$GP" "$(rate before-postgres)")×, SQLite $(ratio "$GL" "$(rate before-sqlite)")×"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw results in $RUN"
