#!/usr/bin/env bash
# The accelerator check of the training loop, for a fresh GPU machine:
#
#   benchmarks/accelerator_check.sh [OUTPUT_DIR] [WHEELHOUSE]
#
# 1. installs the package into a new venv (from the package registry, or with no network from
#    WHEELHOUSE, a directory of wheels made elsewhere with `pip download`);
# 2. prints the devices TensorFlow sees;
# 3. runs benchmarks/train_throughput.py for float32, mixed_bfloat16 and mixed_float16, each
#    with and without XLA, and with several steps per loop;
# 4. trains with --strategy=mirrored on every GPU for 200 steps;
# 5. trains the demo model (gin_configs/demo.gin) for 2,000 steps in float32 and in
#    mixed_bfloat16 and compares their final losses;
# and writes everything into OUTPUT_DIR (default accelerator_check/): results.json with the
# numbers, and one log per step. Each step's failure is recorded and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-accelerator_check}
wheels=${2:-}
mkdir -p "$out"
venv="$out/venv"
python3 -m venv "$venv"
if [ -n "$wheels" ]; then
  "$venv/bin/pip" install -q --no-index --find-links "$wheels" -e . > "$out/install.log" 2>&1
else
  "$venv/bin/pip" install -q -e . > "$out/install.log" 2>&1
fi
echo "install: exit $?" | tee -a "$out/steps.txt"
py="$venv/bin/python"
export PYTHONUNBUFFERED=1

step() {  # step NAME COMMAND...: runs a command into NAME.log, notes its exit status
  local name=$1
  shift
  "$@" > "$out/$name.log" 2>&1
  echo "$name: exit $?" | tee -a "$out/steps.txt"
}

step devices "$py" -c "import tensorflow as tf; print(tf.__version__); \
print(tf.config.list_physical_devices()); print(tf.test.gpu_device_name())"
step throughput "$py" benchmarks/train_throughput.py --rounds 3 --repeats 5 --steps 50 \
    --jit both --precisions float32,mixed_bfloat16,mixed_float16
step mirrored "$venv/bin/zoo-train" --model_dir="$out/mirrored" --strategy=mirrored \
    --gin_config=gin_configs/demo.gin --gin_bindings="training.num_steps = 200" \
    --gin_bindings="training.batch_size = 256"
for precision in float32 mixed_bfloat16; do
  step "demo_$precision" "$venv/bin/zoo-train" --model_dir="$out/demo_$precision" \
      --gin_config=gin_configs/demo.gin --gin_bindings="training.num_steps = 2000" \
      --gin_bindings="training.steps_per_loop = 50" \
      --gin_bindings="training.precision = '$precision'"
done
"$py" - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
results = {"steps": open(os.path.join(out, "steps.txt")).read().split("\n")}
for name in ("devices", "throughput"):
  path = os.path.join(out, f"{name}.log")
  if os.path.exists(path):
    results[name] = open(path).read().splitlines()[-40:]
for run in ("mirrored", "demo_float32", "demo_mixed_bfloat16"):
  path = os.path.join(out, run, "train_results.json")
  if os.path.exists(path):
    results[run] = json.load(open(path))
demo = [results.get(f"demo_{p}", {}).get("loss.loss") for p in ("float32", "mixed_bfloat16")]
if None not in demo:
  results["demo_loss_gap"] = abs(demo[1] - demo[0]) / abs(demo[0])
json.dump(results, open(os.path.join(out, "results.json"), "w"), indent=2)
print(json.dumps({k: v for k, v in results.items() if k != "throughput"}, indent=2)[:4000])
EOF
