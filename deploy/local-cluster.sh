#!/usr/bin/env bash
# deploy/local-cluster.sh — what `make cluster` runs: one etax-sim and three
# etaxd nodes in cluster mode on 127.0.0.1 (dev mode, with the demo), data
# under ./data/cluster/. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."

data=./data/cluster
mkdir -p "$data"
chmod 700 "$data"
# One master key for the whole cluster: every node must hold the same.
if [ ! -f "$data/master.key" ]; then
	(umask 077; printf 'v1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$data/master.key")
fi
export ETAXD_MASTER_KEYS
ETAXD_MASTER_KEYS="$(cat "$data/master.key")"

peers=127.0.0.1:7221,127.0.0.1:7222,127.0.0.1:7223
pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping the cluster"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

bin/etax-sim --listen 127.0.0.1:8090 --test-endpoints >"$data/etax-sim.log" 2>&1 &
pids+=($!)
# node i's command line: the same for a restart after a kill.
node() {
	echo bin/etaxd serve --dev --demo --data "$data/n$1" --node-name "n$1" --listen "127.0.0.1:808$1" \
		--cluster-listen "127.0.0.1:722$1" --cluster-peers "$peers" --taxbureau-url http://127.0.0.1:8090
}
for i in 1 2 3; do
	$(node "$i") >"$data/n$i.log" 2>&1 &
	pids+=($!)
done

echo "waiting for the three nodes (logs in $data/n*.log)"
for i in 1 2 3; do
	for _ in $(seq 1 120); do
		if curl -sf "http://127.0.0.1:808$i/readyz" >/dev/null 2>&1; then break; fi
		sleep 0.5
	done
done
cat <<TXT

etaxd cluster of three nodes on this machine:
  n1 http://127.0.0.1:8081   n2 http://127.0.0.1:8082   n3 http://127.0.0.1:8083
  the tax-bureau simulator (shared): http://127.0.0.1:8090

  where the demo tenant lives:
    bin/etaxd cluster status --server http://127.0.0.1:8081 --tenant demo
  a session through any node (the same on every node):
    bin/etaxd call --demo --server http://127.0.0.1:8082 --data $data/n2 POST /api/v1/sessions '{"tax_no":"91110000000000019B","business":"issue","action":"login"}'

  try a failover: kill -9 the node that hosts the demo tenant, e.g. for n1
    pkill -9 -f 'node-name n1 '
  and ask again through another node: it answers within seconds. Start the
  killed node again (in another terminal) and it rejoins:
    ETAXD_MASTER_KEYS="\$(cat $data/master.key)" $(node 1)

Ctrl-C stops the cluster.
TXT
wait
