#!/usr/bin/env bash
# One GPU session's checks for issues 8 and 9, in phases (one device call each; 15 device-minutes
# in all, so run "checks" first, then "curve" on the still-warm machine):
#
#   GPU_PHASE=checks: CUDA tests (tests/test_cuda.py, tests/evaluation/test_evaluate_cuda.py), seconds per epoch of the library's
#     training path with eager vs CUDA-graph steps (benchmarks/gpu_step.py, Gowalla LightGCN and
#     MF), and full-ranking evaluation speed on the GPU (benchmarks/evaluate_speed.py). ~3 min.
#   GPU_PHASE=curve: LightGCN-BPR on Gowalla with the official recipe (lr 1e-3, L2 1e-4, batch
#     2048, dim 64, 3 layers) for GPU_EPOCHS epochs (default 1000) or GPU_MINUTES of training,
#     test Recall/NDCG@20 every 50 epochs, against the published 0.1830 / 0.1554. ~9.5 min at
#     the 0.55 s/epoch target.
#
#   GPU_PHASE=softmax: issue 9's GPU target - MF (dim 64) with the best loss of the CPU Gowalla
#     table (benchmarks/gowalla_losses.py) against one shared pool of 1000 negatives per step,
#     through the CUDA-graph step, for GPU_MINUTES of training, test Recall/NDCG@20 every
#     GPU_EVERY epochs, against SimpleX's published 0.1872 / 0.1557. SOFTMAX_ARGS overrides the
#     loss settings.
#
#   GPU_PHASE=issue9: issue 9 in one call: CUDA tests, `recpref train --loss ccl --n-neg 1000` on
#     the GPU, the shared-pool SSM step eager vs CUDA graph against a plain matmul
#     (benchmarks/gpu_step.py), and the GPU target by benchmarks/gowalla_gpu_target.py (tuned on
#     the validation carve-out within the time left of GPU_SECONDS, default 450).
#
#   GPU_PHASE=sequences: issue 10 - sequence-model CUDA tests and the Amazon Beauty leave-one-out
#     table with RecBole and torch-rechub rows (benchmarks/amazon_peers.py), GPU_SECONDS in all.
#
#   OUT=results/gpu RECPREF_DATA_DIR=$PWD/.devdata GPU_PHASE=checks bash benchmarks/gpu_session.sh
#
# The machine lacks polars: bring it as wheels in .whl/ (`pip download polars polars-runtime-32
# -d .whl --only-binary :all: --no-deps` for the machine's python), and Gowalla as .devdata/gowalla
# (a copy of $RECPREF_DATA_DIR/gowalla); carry both (.whl, .devdata). CPU smoke test of this
# script: GPU_SMOKE=1 (ml-100k, tiny sizes, device cpu).
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export RECPREF_DATA_DIR=${RECPREF_DATA_DIR:-$PWD/.devdata}
PY=${PYTHON:-python3}
SOFTMAX_ARGS=${SOFTMAX_ARGS:-"--loss ssm --neg-pool 1000 --temperature 0.8 --lr 1e-3 --reg 0.1"}  # the CPU Gowalla table's choice
if [ -n "${GPU_SMOKE:-}" ]; then DEV=cpu DATA=ml-100k EPOCHS=2 CURVE_EPOCHS=1 EVERY=1 MODELS=mf
else DEV=cuda DATA=gowalla EPOCHS=6 CURVE_EPOCHS=${GPU_EPOCHS:-1000} EVERY=50 MODELS=lightgcn,mf; fi
{ date -u; nvidia-smi -L 2>/dev/null; $PY -c "import torch, lightning, polars; print('torch', torch.__version__, \
'lightning', lightning.__version__, 'polars', polars.__version__, 'cuda', torch.cuda.is_available())"; } \
  2>&1 | tee "$OUT/env.log"
case "${GPU_PHASE:-checks}" in
  checks)
    [ -n "${GPU_SMOKE:-}" ] || { timeout 150 $PY -m pytest -q -p no:cacheprovider -W ignore tests/test_cuda.py tests/evaluation/test_evaluate_cuda.py \
      > "$OUT/cuda_tests.log" 2>&1; tail -n 30 "$OUT/cuda_tests.log"; }
    timeout 240 $PY benchmarks/gpu_step.py --dataset $DATA --device $DEV --epochs $EPOCHS --models $MODELS \
      > "$OUT/gpu_step.log" 2>&1; cat "$OUT/gpu_step.log"
    timeout 120 $PY benchmarks/evaluate_speed.py --dataset $DATA --device $DEV > "$OUT/evaluate_speed_gpu.log" 2>&1
    cat "$OUT/evaluate_speed_gpu.log" ;;
  curve)
    timeout 570 $PY benchmarks/gowalla_curve.py --model lightgcn --device $DEV --lr 1e-3 --reg 1e-4 \
      --batch-size 2048 --max-epochs $CURVE_EPOCHS --minutes ${GPU_MINUTES:-9} --eval-every $EVERY \
      $( [ -n "${GPU_SMOKE:-}" ] && echo "--dim 8 --layers 1" ) > "$OUT/gowalla_lightgcn_1000.log" 2>&1
    tail -n 25 "$OUT/gowalla_lightgcn_1000.log" ;;
  softmax)
    timeout 570 $PY benchmarks/gowalla_curve.py --model mf --device $DEV $SOFTMAX_ARGS \
      --batch-size 2048 --max-epochs $CURVE_EPOCHS --minutes ${GPU_MINUTES:-9} --eval-every ${GPU_EVERY:-5} \
      $( [ -n "${GPU_SMOKE:-}" ] && echo "--dim 8" ) > "$OUT/gowalla_mf_softmax.log" 2>&1
    tail -n 40 "$OUT/gowalla_mf_softmax.log" ;;
  issue9)
    # one device call, ~GPU_SECONDS (default 450) in all: CUDA tests, the acceptance command,
    # the pooled step eager vs CUDA graph against a plain matmul, then the GPU target within
    # whatever time is left (tuning on the validation carve-out, one refit, test once)
    T0=$SECONDS; END=$((T0 + ${GPU_SECONDS:-450}))
    [ -n "${GPU_SMOKE:-}" ] || { timeout 150 $PY -m pytest -q -p no:cacheprovider -W ignore tests/test_cuda.py \
      tests/evaluation/test_evaluate_cuda.py > "$OUT/cuda_tests.log" 2>&1; tail -n 30 "$OUT/cuda_tests.log"; }
    ACC=$( [ -n "${GPU_SMOKE:-}" ] && echo cpu || echo gpu )
    timeout 120 $PY -m recpref.cli train --dataset $DATA --model mf --loss ccl --n-neg 1000 --epochs 2 \
      --accelerator $ACC --no-progress --output /tmp/ccl_n1000 --overwrite $( [ "$DATA" = gowalla ] && echo "--protocol predefined" ) \
      > "$OUT/cli_ccl_n1000.log" 2>&1; echo "cli rc $?" >> "$OUT/cli_ccl_n1000.log"; tail -n 25 "$OUT/cli_ccl_n1000.log"
    timeout 120 $PY benchmarks/gpu_step.py --dataset $DATA --device $DEV --epochs 4 --models mf --loss ssm \
      --neg-pool $( [ -n "${GPU_SMOKE:-}" ] && echo 200 || echo 1000 ) --temperature 0.8 > "$OUT/gpu_step_ssm_pool.log" 2>&1
    cat "$OUT/gpu_step_ssm_pool.log"
    LEFT=$((END - SECONDS - 100))
    [ "$LEFT" -ge 60 ] || LEFT=60
    timeout $((LEFT + 150)) $PY benchmarks/gowalla_gpu_target.py --budget-minutes $(awk "BEGIN{print $LEFT/60}") \
      $( [ -n "${GPU_SMOKE:-}" ] && echo --smoke ) > "$OUT/gowalla_gpu_target.log" 2>&1
    tail -n 40 "$OUT/gowalla_gpu_target.log"; echo "# phase wall $((SECONDS - T0)) s" ;;
  sequences)
    # issue 10 in one call (~GPU_SECONDS, default 500): the sequence models' CUDA tests, then the
    # Amazon Beauty leave-one-out table with the peers (benchmarks/amazon_peers.py) on the GPU.
    # Needs .devdata/amazon-beauty and, in .whl/, recbole, torch-rechub (+ pandas, scikit-learn if
    # the image lacks them) besides polars. SEQ_ARGS overrides the table's settings.
    T0=$SECONDS
    [ -n "${GPU_SMOKE:-}" ] || { timeout 90 $PY -m pytest -q -p no:cacheprovider -W ignore tests/models \
      tests/benchmarking/test_sequence_harness.py > "$OUT/sequence_tests.log" 2>&1; tail -n 15 "$OUT/sequence_tests.log"; }
    SEQ_ARGS=${SEQ_ARGS:-"--seeds 0 --epochs 40 --patience 3 --rechub-epochs 10"}
    LEFT=$(( ${GPU_SECONDS:-500} - (SECONDS - T0) ))
    timeout $LEFT $PY benchmarks/amazon_peers.py --dataset amazon-beauty --device $DEV $SEQ_ARGS \
      $( [ -n "${GPU_SMOKE:-}" ] && echo "--smoke --rows recpref:mean,recbole:GRU4Rec,rechub:mind:fair" ) \
      > "$OUT/amazon_peers_beauty.log" 2>&1
    tail -n 30 "$OUT/amazon_peers_beauty.log"; echo "# phase wall $((SECONDS - T0)) s" ;;
  *) echo "GPU_PHASE must be checks, curve, softmax, issue9 or sequences" >&2; exit 2 ;;
esac
