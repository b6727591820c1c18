#!/usr/bin/env bash
# The training goals of issue 23 on one GPU, in one short run (planned at about 5 minutes on an H100/H200,
# most of it torch.compile; not yet run on a GPU, so time the first run):
#
#   1. the GPU tests of the training step (tests/test_training_gpu.py: device-side shuffling, fused Adam,
#      the CUDA-graph step against the eager step, fresh dropout per replay, bf16, compile, CPU->GPU resume)
#      and the CPU-side tests of the same code (tests/test_training_speed.py);
#   2. the README's GPU tables, exactly as `make figures FIGURES=benchmark-gpu` measures them (the runs are
#      defined once, in scripts/readme_figures.py BENCHMARK_MODES): hepadv against the hand-written loop
#      (benchmarks/reference_loop.py) on 2,097,152 jets, eager at batch 16,384 and 65,536, compiled at 65,536;
#      goals: hepadv ÷ reference >= 1.0 compiled at 65,536 (>= 20 M nominal, >= 10 M adversarial jets/s) and
#      eager at 16,384;
#   3. a profile of one epoch of each implementation at batch 65,536 (eager), for where the time goes.
#
# Usage, from the repository root on the GPU machine (hepadv's dependencies importable; issue 23 lists the
# wheels a PyTorch-only image lacks):
#     PYTHONPATH=$PWD bash benchmarks/gpu_check.sh [OUT_DIR]       # default: $OUT, else ./gpu-check
# Everything lands in OUT_DIR: tests.txt, benchmark-gpu-eager.json, benchmark-gpu-compiled.json, their
# printed tables (benchmark.txt), profile.txt. Then, on a machine with the git history, at the same commit:
#     python scripts/readme_figures.py benchmark-gpu --from-runs --runs-dir OUT_DIR
# renders the README's GPU block from those JSON files (the commit line names that commit).
set -euo pipefail
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
py=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$py" - <<'EOF' | tee "$out/device.txt"
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: torch sees no CUDA GPU")
print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
EOF

start=$SECONDS
# the tests first: a failing CUDA-graph step must be seen before its speed is believed
"$py" -m pytest tests/test_training_gpu.py tests/test_training_speed.py -q -p no:cacheprovider -rs 2>&1 \
    | tee "$out/tests.txt" || echo "gpu_check: TESTS FAILED (see $out/tests.txt); benchmarking anyway" | tee -a "$out/tests.txt"
echo "tests: $((SECONDS - start)) s"

start=$SECONDS
"$py" scripts/readme_figures.py benchmark-gpu --measure-only --runs-dir "$out" 2>&1 | tee "$out/benchmark.txt"
echo "benchmark: $((SECONDS - start)) s"

start=$SECONDS
"$py" benchmarks/training_throughput.py --device cuda --jets 524288 --batches 65536 --repeats 1 --profile \
    2>&1 | tee "$out/profile.txt" | grep -E "^(profile|device|   65536)" || true
echo "profile: $((SECONDS - start)) s"
