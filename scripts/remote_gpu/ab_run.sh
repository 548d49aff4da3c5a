#!/usr/bin/env bash
# The A/B of issue 18, run in the background by ab.sh: both discriminators go on from one compact state (same G,
# G_ema, step and data order) for the same number of images, one after the other on the one GPU.
#   arm 1 (ARMS' first, default projected) trains until ARM_S seconds have passed or KIMG more thousand images are
#   seen (SIGTERM: the step finishes, the state at that step is written); arm 2 then trains to exactly the images
#   arm 1 reached (the batch is the state's own for both). Then compare.py draws both against the start.
# Everything lands in $AB (default /tmp/ab): one folder per arm (state, log, samples, losses) and compare/.
set -u
AB=${AB:-/tmp/ab}
DEVICE=${DEVICE:-cuda}
ARM_S=${ARM_S:-300}
KIMG=${KIMG:-100000}
read -r -a arms <<< "${ARMS:-projected classic}"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
mkdir -p "$AB"
step() { echo "[$(date +%H:%M:%S)] $*"; }
nimg() { "$py" -c "import sys; from deepanon.gan.weights import load_train_state as l; print(l(sys.argv[1])[1]['cur_nimg'])" "$1"; }

step unpack
"$py" scripts/remote_gpu/unpack.py "${PACKED:-.gpudata}" "$AB/faces" || { echo failed > "$AB/done"; exit 1; }
start=$(nimg "$RESUME") || { echo failed > "$AB/done"; exit 1; }
target_kimg=$("$py" -c "print(($start + $KIMG * 1000 + 0.5) / 1000)")
for i in 0 1; do
  arm=${arms[$i]}
  limit=$ARM_S
  [ "$i" = 1 ] && limit=$((2 * ARM_S))  # a safety only: arm 2 should stop at arm 1's images
  step "arm $arm: from $start images to $target_kimg kimg, at most $limit s"
  timeout -s TERM "$limit" "$py" -m deepanon.train.commands train --data "$AB/faces" --out "$AB/$arm" \
    --resume-from "$RESUME" --discriminator "$arm" --device "$DEVICE" --state "$AB/$arm/state.safetensors" \
    --state-every-s 60 --sample-every 100000000 --checkpoint-every 100000000 --kimg "$target_kimg" ${EXTRA:-} \
    > "$AB/$arm.log" 2>&1 < /dev/null
  echo "exit $?" >> "$AB/$arm.log"
  tail -n 3 "$AB/$arm.log"
  [ -f "$AB/$arm/state.safetensors" ] || { echo "failed: no state from arm $arm" > "$AB/done"; exit 1; }
  if [ "$i" = 0 ]; then
    reached=$(nimg "$AB/$arm/state.safetensors")
    target_kimg=$("$py" -c "print(($reached + 0.5) / 1000)")  # arm 2 stops at the first step >= this
  fi
done
step compare
"$py" scripts/remote_gpu/compare.py --data "$AB/faces" --device "$DEVICE" --out "$AB/compare" \
  --start "$RESUME" --arm "${arms[0]}=$AB/${arms[0]}" --arm "${arms[1]}=$AB/${arms[1]}" || echo "compare failed"
step done
echo ok > "$AB/done"
