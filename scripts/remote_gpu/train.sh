#!/usr/bin/env bash
# On the GPU machine, from the repository root: unpack the data, probe the speed, start training in the background
# (setsid: it outlives this command while the machine is held), then report until T seconds have passed.
#   T=540 RESUME=weights/train_state.safetensors bash scripts/remote_gpu/train.sh
# EXTRA holds more `deepanon train` options, e.g. EXTRA="--source-weights lfw-single=3,utkface=1".
# PROBE=0 skips the img/s probe (about a minute of the device budget) when the speed is already known.
set -x
T=${T:-540}
start=$(date +%s)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L
python3 scripts/remote_gpu/unpack.py "${PACKED:-.gpudata}" /tmp/faces || exit 1
if [ "${PROBE:-1}" = 1 ]; then
  python3 benchmarks/train_speed.py --data /tmp/faces --device cuda --resolutions 128 --batches 64,128 --steps 48 \
    --no-write 2>&1 | tee "$OUT/probe.txt"
fi
resume=()
[ -n "$RESUME" ] && resume=(--resume-from "$RESUME")
setsid nohup python3 -m deepanon.train.commands train --data /tmp/faces --out /tmp/run --batch "${BATCH:-128}" \
  --device cuda --state /tmp/state.safetensors --state-every-s 60 --sample-every 1000 --checkpoint-every 2000 \
  --kimg 100000 "${resume[@]}" ${EXTRA:-} > /tmp/train.log 2>&1 < /dev/null &
bash scripts/remote_gpu/report.sh $((start + T))
