#!/usr/bin/env bash
# Restore reports/history.sqlite from the `history` data branch of origin.
#
# "Absent" and "error" are told apart: `git ls-remote --exit-code` exits 2 only when origin answers and has no such
# branch (the first night: exit 0, no file, the night starts the history). Any other failure (network, auth, a
# missing remote) exits 1 with the reason, so the night never goes on to force-push a history of its own run over
# one it could not read. The file is written whole or not at all (a partial restore is never left behind).
set -euo pipefail
mkdir -p reports
status=0
git ls-remote --exit-code --heads origin history > /dev/null || status=$?
if [ "$status" -eq 2 ]; then
  echo "no history branch yet: this night starts it"
  exit 0
elif [ "$status" -ne 0 ]; then
  echo "::error::the history branch cannot be read (git ls-remote exit $status); fix the remote or the token, then re-run"
  exit 1
fi
git fetch -q origin history:refs/remotes/origin/history
git show origin/history:history.sqlite > reports/history.sqlite.part
mv reports/history.sqlite.part reports/history.sqlite
echo "history restored: $(wc -c < reports/history.sqlite) bytes"
