#!/usr/bin/env bash
# The gpu protocol (issue 3, part 7) as one job on one GPU machine:
#   1. decode the dataset once into the caches every row shares;
#   2. training steps/s of each model alone, fed random tensors vs the real loader;
#   3. the rows, all at once on the one GPU (each capped at MAX_MINUTES of fitting);
#   4. results/benchmark-gpu.{md,json} from the finished rows.
# Needs the dataset at $DATA; writes at most 6 files into $OUT.
set -uo pipefail
DATA=${DATA:-/root/data/kral_sakir}
OUT=${OUT:-/tmp/toontag-gpu-out}
RUNS=${RUNS:-/root/runs}
MAX_MINUTES=${MAX_MINUTES:-5}
ROWS=${ROWS:-"baseline baseline-no-dropout baseline-2conv densenet121-scratch efficientnet_lite0
  efficientnet_lite0-scratch lite0-aug-180x320"}
STEP_ARGS=${STEP_ARGS:-"--models baseline densenet121 efficientnet_lite0 --steps 100"}
export TOONTAG_CACHE=${TOONTAG_CACHE:-/root/cache} PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUNS/logs"
log() { echo "[$(date +%T)] $*"; }

log "decode caches"
python3 - "$DATA" <<'PY'
import sys
from toontag.data.cache import build_cache
from toontag.data.dataset import load_dataset
paths = [s.path for s in load_dataset(sys.argv[1]).samples]
for size in [(224, 224), (112, 192), (180, 320)]:
    c = build_cache(paths, size=size)
    print(size, f"{c.seconds:.1f} s", len(c.failed), "failed")
PY

log "step throughput"
# shellcheck disable=SC2086
python3 benchmarks/step_throughput.py --data "$DATA" --out "$OUT" $STEP_ARGS

log "rows: $ROWS (each fit capped at $MAX_MINUTES min)"
for row in $ROWS; do
  OMP_NUM_THREADS=2 python3 -m toontag benchmark --protocol gpu --only "$row" --data "$DATA" --runs "$RUNS" \
    --results "$RUNS/partial-$row" --max-minutes "$MAX_MINUTES" >"$RUNS/logs/$row.log" 2>&1 &
done
wait
for row in $ROWS; do log "$row: $(tail -n 3 "$RUNS/logs/$row.log" | tr '\n' ' ')"; done

log "publish"
python3 -m toontag benchmark --protocol gpu --report-only --data "$DATA" --runs "$RUNS" \
  --results "$OUT" --note "All trained rows ran at once on this one GPU \
(benchmarks/gpu_protocol.sh), each fit capped at $MAX_MINUTES minutes: their training images/s \
are shares of the GPU; results/step-throughput-gpu.md gives each model alone."
tar czf "$OUT/gpu-runs.tgz" -C "$RUNS" --exclude='*.ckpt' --exclude='*.safetensors' \
  --exclude='predictions-*' gpu logs
log "done"
