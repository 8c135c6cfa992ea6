#!/usr/bin/env bash
# Everything a GPU must show, in one run of at most ~8 minutes on one H100/H200 with 16 cores:
#   1. training throughput and MFU of ViT-S (eager) and ViT-B (eager and compiled: encoders and predictors) at
#      16x224, batch 32, synthetic clips, with the objectives and predictors their configs train;
#   2. raw 30 fps footage (the built-in world at 256 px) -> `ssl-video data prepare` at 224 px and 64 px, 10 fps;
#   3. for the tiny quickstart config (64 px) and the ViT-S config (224 px) on the prepared data:
#      the loader alone, `ssl-video fit` on a synthetic in-memory batch, and `ssl-video fit` on the
#      data, clips/s of each and data / synthetic (>= 0.9: compute-bound, the loader keeps up); the tiny
#      config once more with the decoded files kept in memory (data.frame_cache_mb).
#
#   bash benchmarks/gpu_check.sh OUT                 # on the GPU machine; tables in OUT/*.md, log in OUT/check.log
#   DRY_RUN=1 bash benchmarks/gpu_check.sh /tmp/gc    # CPU, tiny sizes, ~4 min: checks the script itself
# A step that fails is logged ("FAILED") and the next one still runs: one device run shows everything it can.
# The compiled ViT-B row may compile for minutes: its step is cut at TP_LIMIT_S (default 300 s; rows already
# printed are kept), so the data and fit steps still fit in the device time.
# Overrides: WORKERS (decode workers, default 12), TP_LIMIT_S, PYTHON.
set -euo pipefail
out=${1:?usage: gpu_check.sh OUT}
py=${PYTHON:-python}
cli="$py -m ssl_video.cli"
workers=${WORKERS:-12}
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$out/check.log"; }
failures=0
failed() { failures=$((failures + 1)); stamp "FAILED (exit $1): $2"; }

if [ "${DRY_RUN:-0}" = 1 ]; then
  tp_s=(--models vit_tiny --frames 4 --size 32 --batch 2 --steps 2 --warmup 1 --modes eager)
  tp_b=("${tp_s[@]}")
  minutes=0.5; drives=2; raw_size=64; big=32; small=16; steps=6; warmup=2; workers=1
  gpu=(--trainer.accelerator cpu --trainer.precision 32-true)
  tiny_extra=(--data.batch_size 4 --data.num_workers "$workers")
  vits_extra=(--model.encoder_args '{"img_size": 32, "num_frames": 16, "tubelet": [2, 16, 16], "depth": 1}'
              --model.compile false --data.size 32 --data.batch_size 2 --data.num_workers "$workers")
else
  tp_s=(--models vit_small --frames 16 --size 224 --batch 32 --steps 20 --warmup 5 --modes eager)
  tp_b=(--models vit_base --frames 16 --size 224 --batch 32 --steps 20 --warmup 5 --modes eager compile)
  minutes=1.5; drives=8; raw_size=256; big=224; small=64; steps=80; warmup=20
  gpu=(--trainer.accelerator gpu --trainer.precision bf16-mixed)
  tiny_extra=(--data.batch_size 256 --data.num_workers "$workers" --data.pin_memory true)
  vits_extra=(--model.compile false --data.num_workers "$workers")   # eager in both rows: the ratio is the point
fi

stamp "1/3 training throughput (synthetic clips)"
timeout "${TP_LIMIT_S:-300}" $py benchmarks/train_throughput.py "${tp_s[@]}" \
  --objectives-from configs/pretrain/vit_s_16x224.yaml | tee "$out/throughput_vit_s.md" || failed $? "throughput ViT-S"
timeout "${TP_LIMIT_S:-300}" $py benchmarks/train_throughput.py "${tp_b[@]}" \
  --objectives-from configs/pretrain/vit_b_16x224.yaml | tee "$out/throughput_vit_b.md" || failed $? "throughput ViT-B"

stamp "2/3 raw footage: $drives x $minutes min at ${raw_size} px, 30 fps, then data prepare"
for seed in $(seq 1 "$drives"); do
  $cli data make-drive "$out/raw/seed$seed" --minutes "$minutes" --seed "$seed" --size "$raw_size" --fps 30 \
    --drive-s 30 --quiet >>"$out/check.log" 2>&1 &
done
wait
$cli data prepare "$out/raw" "$out/prepared$big" --size "$big" --fps 10 --quiet 2>>"$out/check.log" \
  | tee -a "$out/check.log" || failed $? "prepare $big px"
$cli data prepare "$out/raw" "$out/prepared$small" --size "$small" --fps 10 --quiet 2>>"$out/check.log" \
  | tee -a "$out/check.log" || failed $? "prepare $small px"

stamp "3/3 loader alone, fit on a synthetic batch, fit on the prepared data"
$py benchmarks/fit_throughput.py --config configs/pretrain/quickstart.yaml --data "$out/prepared$small/manifest.csv" \
  --steps "$steps" --warmup "$warmup" -- "${gpu[@]}" "${tiny_extra[@]}" 2>>"$out/check.log" | tee "$out/fit_tiny.md" \
  || failed $? "fit tiny"
# the same with every worker keeping the decoded 64 px files in memory (data.frame_cache_mb; ~90 MB a worker here)
$py benchmarks/fit_throughput.py --config configs/pretrain/quickstart.yaml --data "$out/prepared$small/manifest.csv" \
  --steps "$steps" --warmup "$warmup" -- "${gpu[@]}" "${tiny_extra[@]}" --data.frame_cache_mb 1024 \
  2>>"$out/check.log" | tee "$out/fit_tiny_frame_cache.md" || failed $? "fit tiny, frame cache"
$py benchmarks/fit_throughput.py --config configs/pretrain/vit_s_16x224.yaml --data "$out/prepared$big/manifest.csv" \
  --steps "$steps" --warmup "$warmup" -- "${gpu[@]}" "${vits_extra[@]}" 2>>"$out/check.log" | tee "$out/fit_vit_s.md" \
  || failed $? "fit ViT-S"
stamp "done ($failures failed steps)"
[ "$failures" = 0 ]
