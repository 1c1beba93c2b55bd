#!/usr/bin/env bash
# Issue 11's trained label-efficiency rows and issue 13's step throughput as one job on one GPU
# machine, in priority order, each part writing its results as it goes:
#   1. benchmarks/label_efficiency.py's fine-tuned and self-trained rows not yet in the records,
#      in SHARDS processes sharing the GPU (the picking orders and the finished rows come from
#      the CPU run: stage/orders.json, stage/le-records.jsonl), stopped after LE_SECONDS;
#   2. benchmarks/step_throughput.py, each model alone on the GPU.
# Here, before the copy:   bash benchmarks/gpu_launch.sh   (the commit every result carries)
#   the finished rows:  cp ~/.cache/toontag/label-eff/records.jsonl stage/le-records.jsonl, or on
#     a fresh machine  python3 -c "import json; [print(json.dumps(r)) for r in json.load(open(
#     'results/label-efficiency.json'))['runs']]" > stage/le-records.jsonl
#   the picking orders: python benchmarks/label_efficiency.py --variants none \
#     --orders stage/orders.json --out /tmp/le   (a few minutes; the head rows are done already)
# There, with the dataset unpacked under /root (benchmarks/gpu_stage.py's parts):
#   bash benchmarks/gpu_label_efficiency.sh
# Writes into $OUT: label-efficiency-records.jsonl, le-logs.tgz, step-throughput-gpu.{json,md},
# job.log (5 files; a device call brings back at most 8).
set -uo pipefail
DATA=${DATA:-/root/data/kral_sakir}
OUT=${OUT:-/tmp/toontag-gpu-out}
WORK=${WORK:-/root/label-eff}
SHARDS=${SHARDS:-7}
LE_SECONDS=${LE_SECONDS:-330}
STEP_ARGS=${STEP_ARGS:-"--models baseline efficientnet_lite0 densenet121 --rounds 2"}
export TOONTAG_LAUNCH=${TOONTAG_LAUNCH:-$PWD/gpu-launch.json} PYTHONUNBUFFERED=1
export PYTHONPATH=$PWD/src:/root/site${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT" "$WORK/logs"
# Not `exec > >(tee ...)`: a bare `wait` also waits for that process substitution, which never
# ends (it cost one GPU session the whole call).
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/job.log"; }

log "label efficiency: $SHARDS shards for at most $LE_SECONDS s"
cp stage/le-records.jsonl "$WORK/records.jsonl"
python3 - "$DATA" "$WORK/cache" <<'PY'
import sys
from pathlib import Path
from toontag.data.cache import build_cache
from toontag.data.dataset import load_dataset
test = [s.path for s in load_dataset(sys.argv[1]).subset("test").samples]
print("test cache", len(build_cache(test, size=(112, 192), root=Path(sys.argv[2])).ok), "frames")
PY
pids=()
for i in $(seq 0 $((SHARDS - 1))); do
  OMP_NUM_THREADS=2 timeout "$LE_SECONDS" python3 benchmarks/label_efficiency.py --data "$DATA" \
    --work "$WORK" --orders stage/orders.json --shard "$i/$SHARDS" \
    --records "$WORK/records-$i.jsonl" --out "$WORK/results" >"$WORK/logs/shard-$i.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
cat "$WORK"/records-*.jsonl > "$OUT/label-efficiency-records.jsonl" 2>/dev/null
log "label efficiency: $(wc -l < "$OUT/label-efficiency-records.jsonl") rows finished"
tar czf "$OUT/le-logs.tgz" -C "$WORK" logs

log "step throughput"
# shellcheck disable=SC2086
python3 benchmarks/step_throughput.py --data "$DATA" --out "$OUT" $STEP_ARGS 2>&1 | tail -n 20 >> "$OUT/job.log"
log "done"
