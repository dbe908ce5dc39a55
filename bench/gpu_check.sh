#!/usr/bin/env bash
# Issue 20's GPU check, one script for one H200 (results under $OUT). Not yet run on a GPU: expected
# about 5 minutes; the parts' time limits add up to 515 s, which leaves room under a 600 s command limit.
#   1. bench_gpu.py at the 1.5B shape: lean decode, and GRPO.update plain / unfolded (the math-kernel
#      attention layout it replaced) / activation-checkpointed, each phase with its own peak memory;
#   2. GRPO steps through torchrun on a random-init model of the Qwen2.5-0.5B shape (bf16): one NCCL
#      rank (DDP), one NCCL rank with --fsdp, and two gloo ranks sharing the GPU;
#   3. --rollout vllm, which prints its one-line error where vllm is not installed.
# Each part has its own time limit, so one failure costs only its part.
#
#   bash bench/gpu_check.sh           # on the GPU machine, from the repository root
#   bash bench/gpu_check.sh --smoke   # every part on CPU at a tiny size (run it before the GPU run)
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore
WORK=${TMPDIR:-/tmp}/r1lab-gpu-check  # the model and run directories: big, not brought back
rm -rf "$WORK" && mkdir -p "$WORK"
if [ "${1:-}" = "--smoke" ]; then
  DEV=cpu; SHAPE=smoke; BENCH=(--device cpu --shapes tiny --peak-size 256 --prompt-len 16 --new-tokens 8 --prompts 2 --group 4)
  TRAIN=(--device cpu --dtype float32 --prompts-per-step 4 --group-size 4 --max-new-tokens 16 --threads 1)
else
  DEV=cuda; SHAPE=0.5b; BENCH=(--shapes 1.5b --prompts 8 --group 8 --prompt-len 256 --new-tokens 256)
  TRAIN=(--device cuda --dtype bfloat16 --prompts-per-step 8 --group-size 8 --max-new-tokens 128)
fi
# a random model earns no rule reward; a length reward makes the advantages (and gradients) non-zero
printf 'def reward(completion, answer=None):\n    return (len(completion) %% 5) / 4\n' >"$WORK/reward.py"
COMMON=(--eval-problems 2 --eval-samples 1 --lr 1e-6 --log-samples-every 0 --reward-fn "$WORK/reward.py:reward")

part() {  # part NAME SECONDS CMD...: run with a time limit, log to $OUT/NAME.log, report the exit code
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
  grep -v "Loading weights\|Writing model\|━\|it/s\]" "$OUT/$name.log" | tail -n 25
}
steps() {  # the per-step numbers of a run directory
  python - "$1" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
for line in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(line)
    print(f"  step {r['step']}: {r['seconds']:.2f} s (rollout {r['rollout_seconds']:.2f} s), "
          f"{r['tokens_per_second']:,.0f} tok/s, peak {r.get('gpu_peak_gib') or float('nan'):.1f} GiB, "
          f"loss {r['loss']:.4g}, grad_norm {r['grad_norm']:.4g}, mean_length {r['mean_length']:.0f}, "
          f"kl {r['kl']}, entropy {r['entropy']:.4g}")
PY
}

: >"$OUT/summary.txt"
python - <<'PY' | tee "$OUT/env.txt"
import importlib.util, torch, transformers
print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
def missing(m):
    try:
        return importlib.util.find_spec(m) is None
    except ImportError:
        return True
print("missing:", [m for m in ("vllm", "math_verify", "fastapi", "uvicorn", "httpx", "matplotlib") if missing(m)])
PY

part bench_gpu 150 python bench/bench_gpu.py "${BENCH[@]}" --paths lean \
  --train-variants plain unfolded checkpointed --json "$OUT/bench_gpu.jsonl"

part model 45 python bench/random_model.py --shape "$SHAPE" --out "$WORK/model" --device "$DEV"
TORCHRUN=(python -m torch.distributed.run --standalone)
part ddp_nccl_1rank 100 "${TORCHRUN[@]}" --nproc-per-node 1 -m r1lab train --model "$WORK/model" \
  "${TRAIN[@]}" "${COMMON[@]}" --max-steps 3 --output-dir "$WORK/ddp"
steps "$WORK/ddp"
part fsdp_nccl_1rank 100 "${TORCHRUN[@]}" --nproc-per-node 1 -m r1lab train --model "$WORK/model" \
  "${TRAIN[@]}" "${COMMON[@]}" --max-steps 2 --fsdp true --output-dir "$WORK/fsdp"
steps "$WORK/fsdp"
R1LAB_DIST_BACKEND=gloo part ddp_gloo_2ranks_1gpu 90 "${TORCHRUN[@]}" --nproc-per-node 2 -m r1lab train \
  --model "$WORK/model" "${TRAIN[@]}" "${COMMON[@]}" --max-steps 2 --output-dir "$WORK/gloo2"
steps "$WORK/gloo2"
for run in ddp fsdp gloo2; do cp "$WORK/$run/metrics.jsonl" "$OUT/$run.metrics.jsonl" 2>/dev/null; done

part vllm 30 python -m r1lab train --rollout vllm --device "$DEV" --model "$WORK/model" --output-dir "$WORK/vllm"
echo "done: $OUT" | tee -a "$OUT/summary.txt"
