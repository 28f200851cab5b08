#!/usr/bin/env bash
# Renders docs/grafana/authenik8.png, the README's picture of the dashboard,
# from real data: the gin example server on a throwaway Redis with
# METRICS=1, driven by examples/loadgen for DURATION (default 4m) and
# scraped every 2 s by Prometheus; the panels of authenik8.json are then
# evaluated by that Prometheus and drawn by render.py (matplotlib), since
# Grafana has no Debian package. Everything listens on 127.0.0.1.
#
# Needs go, redis-server, prometheus and python3-matplotlib:
#   apt-get install prometheus python3-matplotlib
#
#   docs/grafana/render.sh            # about DURATION plus a minute
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-4m}
PYTHON=${PYTHON:-/usr/bin/python3} # Debian's, which python3-matplotlib installs into
for bin in go redis-server prometheus curl "$PYTHON"; do
	command -v "$bin" >/dev/null || { echo "render.sh: $bin is required" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
	for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
	echo "render.sh: $1 did not answer" >&2; exit 1
}

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
pids+=($!)

go build -o "$tmp/gin" ./examples/gin
go build -o "$tmp/loadgen" ./examples/loadgen
app_port=$(free_port)
(cd "$tmp" && PORT=$app_port REDIS_URL=redis://127.0.0.1:$redis_port METRICS=1 \
	JWT_SECRET=$(head -c 32 /dev/urandom | base64) REFRESH_SECRET=$(head -c 32 /dev/urandom | base64) \
	RATE_LIMITS=login_account=5/1m,login_ip=1000000/1m,register_ip=1000000/1h \
	exec ./gin >"$tmp/gin.log" 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$app_port/readyz"

prom_port=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
  - job_name: authenik8
    static_configs: [{targets: ["127.0.0.1:$app_port"]}]
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
	--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prom_port/-/ready"

sleep 4 # a scrape before the traffic: counters start from their zeros
start=$(date +%s)
"$tmp/loadgen" -base "http://127.0.0.1:$app_port" -d "$DURATION"
sleep 6 # the last scrapes
end=$(date +%s)
"$PYTHON" docs/grafana/render.py --prom "http://127.0.0.1:$prom_port" --start "$start" --end "$end" --out docs/grafana/authenik8.png
echo "render.sh: docs/grafana/authenik8.png ($(stat -c %s docs/grafana/authenik8.png) bytes)"
