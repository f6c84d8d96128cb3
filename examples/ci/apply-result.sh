#!/usr/bin/env bash
# Turn an apply's exit status and its output into the Markdown reported back to the request.
# Only lines reconciler writes about itself are quoted (the commit summary and the audit
# heads: numbers and hashes); nothing declared, so a name in a file cannot write the report.
#
#   apply-result.sh STATUS LOG [JOB_URL] > result.md
set -euo pipefail
status=$1 log=$2 job=${3:-}
see=""
[ -z "$job" ] || see=" ([the job's log]($job))"
echo "### reconciler apply"
echo
committed=$(grep -E '^Apply complete: [0-9]+ changes? in [0-9]+ enterprises? committed\.' "$log" 2>/dev/null || true)
if [ "$status" != 0 ] && [ -n "$committed" ]; then
  echo "**Applied, but a later step failed** (exit $status): access codes may not all have been sent;" \
       "\`reconciler credentials issue\` sends every code still owed.${see}"
  echo; printf '%s\n' "$committed" | head -n 1
  exit 0
fi
case $status in
  0) lines=$(grep -E '^(Apply complete: [0-9]+ changes? in [0-9]+ enterprises? committed\.|No changes\.)' "$log" 2>/dev/null || true)
     echo "**Applied.**${see}"
     [ -n "$lines" ] && { echo; printf '%s\n' "$lines" | head -n 1; }
     heads=$(grep -E '^Audit trail of [0-9.]+: entry [0-9]+, head [0-9a-z:-]+$' "$log" 2>/dev/null || true)
     if [ -n "$heads" ]; then
       echo; echo "Keep these heads; \`reconciler audit verify --head HASH\` proves the trail still holds them:"; echo
       printf '%s\n' "$heads" | sed 's/^/- `/; s/$/`/'
     fi ;;
  3) echo "**Not applied: the store changed since the plan was reviewed** (exit 3). Nothing was changed; run the request's plan again and review it.${see}" ;;
  4) echo "**Not applied: the declaration plans other changes than the reviewed plan, or the plan is not this store's** (exit 4). Nothing was changed.${see}" ;;
  5) echo "**Not applied: another apply held the lock too long** (exit 5). Nothing was changed; run the job again.${see}" ;;
  6) echo "**Not applied: refused by a safety gate** (exit 6). Nothing was changed; a maintainer may lift the gate with its label.${see}" ;;
  7) echo "**Not applied: an audit trail does not verify** (exit 7). Nothing was changed; find out why before anything else.${see}" ;;
  *) echo "**Not applied** (exit $status): see the job's log. The store is as it was: an apply is all or nothing.${see}" ;;
esac
