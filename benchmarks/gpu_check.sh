#!/usr/bin/env bash
# One GPU check for tinvnn, under 10 minutes on one GPU; results in one file.
#
# Usage:
#   TINVNN_DATA=DIR bash benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS]
#   bash benchmarks/gpu_check.sh --tiny [--out DIR]      # the same steps on CPU, tiny, under a minute
#
# Steps (inside --budget seconds, default 540, so the whole script stays under 10 minutes):
#   1. engine: benchmarks/bench_canonicalize.py --device cuda --batches 32 256 --points 1024
#      (eager and compiled canonicalize, PointNet / DGCNN forward with and without TinvWrapper)
#      -> OUT/engine.json
#   2. probe: 2 epochs of `tinvnn train` (PointNet + Frame Averaging, 1,024 points, width 1024,
#      ModelNet40, z-rotated training, SO(3) test) -> seconds per epoch and start-up seconds.
#   3. run: the longest fresh schedule of the same model that fits the budget left (cosine
#      learning rate over those epochs), under `timeout`; a checkpoint per epoch, so a cut run
#      continues with `tinvnn train ... --out OUT/pointnet1024 --resume` -> OUT/pointnet1024/.
#   4. summary: OUT/gpu_check.json (device, torch, engine rows, epochs planned and done, test
#      accuracy of the last and best epochs, seconds per epoch).
# --tiny: CPU, synthetic data (no files), 64 points, width 32, B = 2 and 4, 2 repeats, no
# torch.compile (minutes on a CPU), the run capped at 2 epochs; about 30 s on an idle core.
# OUT defaults to $OUT (the device machine's returned folder) if set, else runs/gpu_check.
# ModelNet40 is read from $TINVNN_DATA/modelnet40 (train.npz, test.npz: 64 MiB).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
out="${OUT:-runs/gpu_check}"
budget=540
max_epochs=250
tiny=0
while (($#)); do
    case "$1" in
        --tiny) tiny=1 max_epochs=2 ;;
        --out) out="$2"; shift ;;
        --budget) budget="$2"; shift ;;
        *) echo "gpu_check.sh: unknown argument '$1' (expected --tiny, --out DIR, --budget SECONDS)" >&2; exit 2 ;;
    esac
    shift
done
if ((tiny)); then
    device=cpu
    engine=(--batches 2 4 --points 64 --repeats 2 --no-compile)
    model=(--dataset synthetic --per-class 4 --test-per-class 2 --points 64 --width 32 --threads 1)
else
    device=cuda
    engine=(--batches 32 256 --points 1024 --repeats 20)
    model=(--dataset modelnet40 --points 1024 --width 1024)
    data="${TINVNN_DATA:-}/modelnet40"
    if [[ ! -f "$data/train.npz" || ! -f "$data/test.npz" ]]; then
        echo "gpu_check.sh: no ModelNet40 at '$data' (set TINVNN_DATA to the folder holding modelnet40/)" >&2
        exit 2
    fi
fi
model+=(--method fa --train-protocol z --test-protocol SO3 --device "$device" --no-progress)
mkdir -p "$out"
rm -rf "$out/probe" "$out/pointnet1024"
SECONDS=0

echo "== 1. engine on $device" >&2
"$python" "$here/bench_canonicalize.py" --device "$device" "${engine[@]}" --json "$out/engine.json" >&2

echo "== 2. probe: 2 epochs" >&2
probe_start=$SECONDS
"$python" -m tinvnn train "${model[@]}" --epochs 2 --out "$out/probe" >&2
probe_wall=$((SECONDS - probe_start))

epochs=$("$python" - "$out/probe/metrics.json" "$probe_wall" $((budget - SECONDS)) "$max_epochs" <<'EOF'
import json, sys
history = json.load(open(sys.argv[1]))["history"]
wall, left, most = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
per_epoch = 1.2 * history[-1]["seconds"] + 1e-3  # the warm epoch, plus a margin for the test pass
startup = max(wall - sum(h["seconds"] for h in history), 0.0)
print(min(most, max(1, int((left - 15 - startup) // per_epoch))))  # 15 s kept for the summary
EOF
)
limit=$((budget - SECONDS - 10 > 30 ? budget - SECONDS - 10 : 30))
echo "== 3. run: $epochs epochs, $limit s at most" >&2
status=0
timeout "$limit" "$python" -m tinvnn train "${model[@]}" --epochs "$epochs" --out "$out/pointnet1024" >&2 || status=$?

"$python" - "$out" "$epochs" "$status" "$SECONDS" <<'EOF'
import json, sys
from pathlib import Path
out, epochs, status, seconds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
metrics = out / "pointnet1024" / "metrics.json"
history = json.loads(metrics.read_text())["history"] if metrics.is_file() else []
tested = [h for h in history if "test_accuracy" in h]
summary = {
    "engine": json.loads((out / "engine.json").read_text()),
    "run": {
        "config": json.loads(metrics.read_text())["config"] if metrics.is_file() else None,
        "epochs_planned": epochs,
        "epochs_done": len(history),
        "exit_status": status,  # 124: cut by the budget; continue with --resume
        "seconds_per_epoch": [round(h["seconds"], 2) for h in history],
        "last_test_accuracy": tested[-1]["test_accuracy"] if tested else None,
        "best_test_accuracy": max((h["test_accuracy"] for h in tested), default=None),
    },
    "script_seconds": seconds,
}
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary["run"]))
EOF
