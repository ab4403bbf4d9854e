#!/usr/bin/env bash
# One GPU session's checks, in order: CUDA tests, GPU sampler throughput on Gowalla, then
# LightGCN-BPR Gowalla curves (official lr 1e-3 and lr 5e-3, both batch 2048, L2 1e-4,
# dim 64, 3 layers) run side by side on the one GPU for GPU_MINUTES of training each
# (GPU_LRS="1e-3" for a single, uncontended run; SKIP_SAMPLER=1 to skip the throughput table).
#
#   OUT=results/gpu RECPREF_DATA_DIR=../shared/datasets bash benchmarks/gpu_session.sh
#
# Python packages the machine lacks (polars) can come as wheels in .whl/ (see docs/benchmarks.md).
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export RECPREF_DATA_DIR=${RECPREF_DATA_DIR:-$PWD/.devdata}
MIN=${GPU_MINUTES:-6}
{ date -u; nvidia-smi -L; python3 -c "import torch, lightning, polars; print('torch', torch.__version__, \
'lightning', lightning.__version__, 'polars', polars.__version__, 'cuda', torch.cuda.is_available())"; } \
  2>&1 | tee "$OUT/env.log"
timeout 120 python3 -m pytest -q -p no:cacheprovider -W ignore tests/test_cuda.py > "$OUT/cuda_tests.log" 2>&1
tail -n 40 "$OUT/cuda_tests.log"
[ -n "${SKIP_SAMPLER:-}" ] || timeout 60 python3 benchmarks/sampler_throughput.py --dataset gowalla --device cuda > "$OUT/sampler_gpu.log" 2>&1
cat "$OUT/sampler_gpu.log"
for lr in ${GPU_LRS:-1e-3 5e-3}; do
  OMP_NUM_THREADS=4 python3 benchmarks/gowalla_curve.py --model lightgcn --device cuda --lr $lr --reg 1e-4 \
    --batch-size 2048 --minutes "$MIN" --eval-every 25 > "$OUT/gowalla_lightgcn_lr$lr.log" 2>&1 &
done
wait
tail -n 4 "$OUT"/gowalla_lightgcn_lr*.log
