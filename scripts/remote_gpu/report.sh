#!/usr/bin/env bash
# Wait until the given epoch second (or until training stops), then copy the latest compact state (in parts of
# 15 MB), the sample grid, the loss plot and the log to $OUT. With STOP=1 (the last call while the machine is
# held) training is then stopped by SIGTERM, which finishes the step and writes the state at that step.
until_s=$1
OUT=${OUT:-/tmp/out}
while [ "$(date +%s)" -lt "$until_s" ] && pgrep -f "deepanon.train.commands train" >/dev/null; do
  sleep 10
  tail -c 300 /tmp/train.log | tr '\r' '\n' | tail -1
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
if [ "${STOP:-0}" = 1 ]; then
  pkill -TERM -f "deepanon.train.commands train"
  for _ in $(seq 60); do pgrep -f "deepanon.train.commands train" >/dev/null || break; sleep 1; done
fi
tail -n 30 /tmp/train.log
if [ -f /tmp/state.safetensors ]; then
  cp /tmp/state.safetensors /tmp/state.safetensors.copy && split -b 15M /tmp/state.safetensors.copy "$OUT/state.part-"
else
  echo "no compact state yet: training stopped or has not reached its first one (the log above says which)"
fi
cp /tmp/run/samples/latest.png /tmp/run/losses.png /tmp/run/log.jsonl "$OUT/" 2>/dev/null
ls -la "$OUT"
