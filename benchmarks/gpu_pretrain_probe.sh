#!/usr/bin/env bash
# The quickstart recipe with a GPU budget: does a longer pretraining on more unlabeled video
# make the frozen encoder beat a random one on the time-dependent labels?
#
#   bash benchmarks/gpu_pretrain_probe.sh OUT          # one GPU; 4.6 min on an H100
#
# 1. unlabeled pretraining video: MINUTES_PER_SEED x 4 of the built-in world (seeds 1-4, in
#    parallel), disjoint from the labeled evaluation data (seed 0, the quickstart's 30 min);
# 2. `ssl-video fit` with configs/pretrain/quickstart.yaml (same tiny ViT, same objective) on the
#    GPU in bf16, batch BATCH, until MAX_STEPS or FIT_TIME (whichever comes first);
# 3. `ssl-video weights export`, then `ssl-video probe` (linear, pretrained vs random encoder,
#    3 seeds, 1/10/100 % labels) on the labeled data LABELED (default: generated, seed 0, 30 min).
# Environment overrides (for a CPU smoke run): MINUTES_PER_SEED, MAX_STEPS, FIT_TIME (DD:HH:MM:SS),
# BATCH, WORKERS, ACCELERATOR, PRECISION, SEEDS, LABELED, PYTHON.
set -euo pipefail
out=${1:?usage: gpu_pretrain_probe.sh OUT}
minutes=${MINUTES_PER_SEED:-30}
py=${PYTHON:-python}
cli="$py -m ssl_video.cli"
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }

stamp "generating ${minutes} min x 4 of unlabeled video"
for seed in 1 2 3 4; do
  $cli data make-drive "$out/unlabeled/seed$seed" --minutes "$minutes" --seed "$seed" >"$out/make_drive_$seed.log" 2>&1 &
done
labeled=${LABELED:-$out/labeled}
if [ ! -f "$labeled/labels.csv" ]; then
  $cli data make-drive "$labeled" --minutes 30 --seed 0 >"$out/make_drive_0.log" 2>&1 &
fi
wait
stamp "data ready"

$cli fit --config configs/pretrain/quickstart.yaml \
  --data.data "$out/unlabeled" \
  --trainer.default_root_dir "$out/pretrain" \
  --trainer.accelerator "${ACCELERATOR:-gpu}" --trainer.precision "${PRECISION:-bf16-mixed}" \
  --trainer.max_steps "${MAX_STEPS:-20000}" --trainer.max_time "${FIT_TIME:-00:00:03:30}" \
  --trainer.val_check_interval 500 --trainer.log_every_n_steps 50 --trainer.enable_progress_bar false \
  --model.warmup_steps 200 --model.health_every 500 \
  --data.batch_size "${BATCH:-64}" --data.num_workers "${WORKERS:-12}" --data.clips_per_video 16 \
  --checkpoint.every_n_train_steps 500
stamp "pretraining done"
$py - "$out/pretrain/csv/version_0/metrics.csv" <<'PY' || true
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("val/psnr")]
for r in rows:
    print(f"step {r['step']}: val/psnr {float(r['val/psnr']):.2f} dB (copy-last {float(r['val/psnr_copy_last']):.2f})")
PY
$cli weights export "$out/pretrain/checkpoints/last.ckpt" "$out/weights"
$cli probe --encoder "$out/weights" --data "$labeled/labels.csv" --out "$out/probe" \
  --target speed_bucket lane_change --modes linear --seeds "${SEEDS:-3}"
stamp "probe done"
cat "$out/probe/report.md"
