#!/usr/bin/env bash
# The key prefix of a shard's vLLM torch.compile cache: what makes a compiled graph reusable, and nothing that
# changes from run to run (a run id in the key would add an entry every night and evict the others).
#
# - the engine build: the directory `vllm-compat engine where` resolves to (flavour, vLLM version, python, recipe
#   hash), e.g. gpu-vllm-0.32.0-py311-1a2b3c4d;
# - the GPU model(s) NVML names (compiled kernels are per architecture), sorted, e.g. NVIDIA_H100_80GB_HBM3.
# Written as `prefix=vllm-compile-<engine>-<gpus>` to $GITHUB_OUTPUT; the workflow adds the matrix hash and the shard.
set -euo pipefail
python=$(.venv/bin/vllm-compat engine where)
engine=$(basename "$(dirname "$(dirname "$python")")")
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | sort -u | paste -sd+ - | tr -c 'A-Za-z0-9+.\n-' '_')
[ -n "$engine" ] && [ -n "$gpus" ] || { echo "::error::no engine ($engine) or no GPU ($gpus) for the key"; exit 1; }
echo "prefix=vllm-compile-${engine}-${gpus}" >> "$GITHUB_OUTPUT"
echo "compile-cache key prefix: vllm-compile-${engine}-${gpus}"
