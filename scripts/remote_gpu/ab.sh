#!/usr/bin/env bash
# On the GPU machine, from the repository root: start the discriminator A/B (ab_run.sh) in the background (setsid:
# it outlives this command while the machine is held), wait until T seconds have passed or it is done, and put what
# it has so far into $OUT. Run again with START=0 to collect later (one device command may run 10 minutes; the
# A/B takes about 2 x ARM_S + 2 minutes).
#   T=560 ARM_S=300 RESUME=weights/train_state.safetensors bash scripts/remote_gpu/ab.sh
#   T=300 START=0 bash scripts/remote_gpu/ab.sh
# ARMS (default "projected classic"): the first trains ARM_S seconds, the second to the same images. DEVICE=cpu,
# PACKED (default .gpudata), AB (default /tmp/ab) and EXTRA (more `deepanon train` options) are for tests and
# other machines; PYTHON (default python3) runs the Python steps.
shopt -s nullglob
T=${T:-560}
AB=${AB:-/tmp/ab}
OUT=${OUT:-/tmp/out}
start=$(date +%s)
mkdir -p "$OUT"
if [ "${START:-1}" = 1 ]; then
  [ -n "${RESUME:-}" ] || { echo "RESUME=<compact state> is needed: both arms go on from it"; exit 2; }
  [ "${DEVICE:-cuda}" = cpu ] || nvidia-smi -L
  rm -rf "$AB" && mkdir -p "$AB"
  AB=$AB RESUME=$RESUME setsid nohup bash scripts/remote_gpu/ab_run.sh > "$AB/run.log" 2>&1 < /dev/null &
fi
while [ "$(date +%s)" -lt $((start + T)) ] && [ ! -f "$AB/done" ]; do
  sleep 5
  for f in "$AB"/*.log; do [ -f "$f" ] && echo "$(basename "$f"): $(tail -c 200 "$f" | tr '\r' '\n' | tail -1)"; done
done
[ "${DEVICE:-cuda}" = cpu ] || nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
cat "$AB/run.log"
echo "done: $(cat "$AB/done" 2>/dev/null || echo 'no, still running (collect again with START=0)')"
for arm in "$AB"/*/; do
  name=$(basename "$arm")
  [ "$name" = faces ] || [ "$name" = compare ] && continue
  mkdir -p "$OUT/$name"
  cp "$AB/$name.log" "$arm/log.jsonl" "$arm/losses.png" "$arm/config.json" "$OUT/$name/" 2>/dev/null
  cp "$arm/samples/latest.png" "$OUT/$name/samples.png" 2>/dev/null
  # parts of 15 MB (what comes back is size-limited); cat state.part-* > state.safetensors joins them
  [ -f "$arm/state.safetensors" ] && cp "$arm/state.safetensors" "$AB/$name.copy" \
    && split -b 15M "$AB/$name.copy" "$OUT/$name/state.part-"
done
[ -d "$AB/compare" ] && cp -r "$AB/compare" "$OUT/"
ls -laR "$OUT"
! grep -q '^failed' "$AB/done" 2>/dev/null  # exit status 1 when the A/B failed (0: done, or still running)
