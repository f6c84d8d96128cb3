#!/usr/bin/env bash
# Post a Markdown file as reconciler's comment on a pull request (GitHub) or merge request
# (GitLab), editing the comment of the same kind posted before instead of adding one at every
# push. KIND names the comment (plan, apply): its first line is the hidden marker
# <!-- reconciler:KIND -->, and only a comment that starts with it, written by the same
# account as this job's token, is ever edited.
#
#   post-note.sh github OWNER/REPO NUMBER KIND FILE      (GH_TOKEN set; uses gh)
#   post-note.sh gitlab PROJECT_ID IID KIND FILE         (GITLAB_API_TOKEN and CI_API_V4_URL set; curl and jq)
set -euo pipefail
platform=$1 repository=$2 number=$3 kind=$4 file=$5
case $kind in plan|apply) ;; *) echo "post-note.sh: KIND is plan or apply" >&2; exit 2 ;; esac
marker="<!-- reconciler:$kind -->"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
{ echo "$marker"; cat "$file"; } > "$body"

if [ "$platform" = github ]; then
  # The workflow's token comments as github-actions[bot].
  id=$(gh api --paginate "repos/$repository/issues/$number/comments" \
       --jq ".[] | select(.user.login == \"github-actions[bot]\" and (.body | startswith(\"$marker\"))) | .id" \
       | tail -n 1)
  if [ -n "$id" ]; then
    gh api --method PATCH "repos/$repository/issues/comments/$id" -F "body=@$body" > /dev/null
  else
    gh api --method POST "repos/$repository/issues/$number/comments" -F "body=@$body" > /dev/null
  fi
else
  api="$CI_API_V4_URL/projects/$repository/merge_requests/$number/notes"
  call() { curl --fail --silent --show-error --header "PRIVATE-TOKEN: $GITLAB_API_TOKEN" "$@"; }
  me=$(call "$CI_API_V4_URL/user" | jq -r .id)
  id=$(call "$api?per_page=100&sort=desc&order_by=updated_at" \
       | jq -r --arg marker "$marker" --argjson me "$me" \
         '[.[] | select(.author.id == $me and (.body | startswith($marker)))][0].id // empty')
  payload=$(jq -Rs '{body: .}' "$body")
  if [ -n "$id" ]; then
    call --request PUT --header "Content-Type: application/json" --data "$payload" "$api/$id" > /dev/null
  else
    call --request POST --header "Content-Type: application/json" --data "$payload" "$api" > /dev/null
  fi
fi
