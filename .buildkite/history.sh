#!/usr/bin/env bash
# Carry reports' history.sqlite from one Buildkite build to the next on the history agent's persistent disk.
#
#   .buildkite/history.sh restore   copy the saved history to ./history.sqlite (absent: exit 0, no file -- this
#                                   build starts the history; unreadable or not SQLite: exit 1, nothing written)
#   .buildkite/history.sh save      copy ./history.sqlite back, whole or not at all (never an empty file)
#
# Buildkite keeps no file between builds (an artifact belongs to its build, and `artifact download` without --build
# reads the current one), so without this `gate --history` never sees "worked before". The history lives in
# $VLLM_COMPAT_HISTORY_DIR/<pipeline>/<branch>/history.sqlite, a directory on a disk that outlives builds (set it in the
# agent's environment hook or the pipeline's env); the steps that use it run on the agents that have that disk
# (queue vllm-compat-history in .buildkite/pipeline.yml). The merge step holds an flock on <dir>/.lock from restore to
# save, so two builds of one branch never both add to the same copy and lose one night. The previous file is kept as
# history.sqlite.prev.
set -euo pipefail
action=${1:-}
root=${VLLM_COMPAT_HISTORY_DIR:-}
if [ -z "$root" ]; then
  echo "history.sh: VLLM_COMPAT_HISTORY_DIR is not set: set it to a directory on the history agent's persistent disk" >&2
  exit 1
fi
dir="$root/${BUILDKITE_PIPELINE_SLUG:-vllm-compat}/$(printf '%s' "${BUILDKITE_BRANCH:-main}" | tr '/' '_')"
saved="$dir/history.sqlite"
case "$action" in
  dir)
    mkdir -p "$dir" && echo "$dir"
    ;;
  restore)
    if [ ! -e "$saved" ]; then
      echo "history.sh: no history yet in $dir: this build starts it"
      exit 0
    fi
    if ! cp "$saved" history.sqlite.part 2>/dev/null || [ "$(head -c 15 history.sqlite.part)" != "SQLite format 3" ]; then
      rm -f history.sqlite.part
      echo "history.sh: $saved cannot be read as a history (not a readable SQLite file): fix or move it away" >&2
      exit 1
    fi
    mv history.sqlite.part history.sqlite
    echo "history.sh: history restored from $saved ($(wc -c < history.sqlite) bytes)"
    ;;
  save)
    if [ ! -s history.sqlite ]; then
      echo "history.sh: ./history.sqlite is missing or empty: not saved over $saved" >&2
      exit 1
    fi
    mkdir -p "$dir"
    cp history.sqlite "$saved.part.$$"
    [ -e "$saved" ] && cp -p "$saved" "$saved.prev"
    mv -f "$saved.part.$$" "$saved"
    echo "history.sh: history saved to $saved ($(wc -c < "$saved") bytes)"
    ;;
  *)
    echo "usage: .buildkite/history.sh restore|save|dir" >&2
    exit 2
    ;;
esac
