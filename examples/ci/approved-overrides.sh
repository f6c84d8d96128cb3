#!/usr/bin/env bash
# Print the --allow-... flags that a maintainer approved for a pull request (GitHub) or merge
# request (GitLab), one per line: a label `reconciler:allow-<gate>` counts only when the last
# person who added it is not the request's author and may maintain the repository.
# Only the safety gates' flags can be approved this way; a broken audit trail cannot.
#
#   approved-overrides.sh github OWNER/REPO NUMBER         (GH_TOKEN set; uses gh and jq)
#   approved-overrides.sh gitlab PROJECT_ID IID            (GITLAB_API_TOKEN and CI_API_V4_URL set; curl and jq)
set -euo pipefail
platform=$1 repository=$2 number=$3
gates='mass-removal|no-main-access-manager|default-quality-removal|self-removal|protected-removal|offboarding'

if [ "$platform" = github ]; then
  author=$(gh api "repos/$repository/pulls/$number" --jq .user.login)
  labels=$(gh api "repos/$repository/issues/$number/labels" --jq '.[].name')
  events=$(gh api --paginate "repos/$repository/issues/$number/events" --jq '.[] | select(.event == "labeled")
           | [.label.name, .actor.login] | @tsv')
else
  api="$CI_API_V4_URL/projects/$repository"
  get() { curl --fail --silent --header "PRIVATE-TOKEN: $GITLAB_API_TOKEN" "$@"; }
  author=$(get "$api/merge_requests/$number" | jq -r .author.username)
  labels=$(get "$api/merge_requests/$number" | jq -r '.labels[]')
  events=$(get "$api/merge_requests/$number/resource_label_events?per_page=100" \
           | jq -r '.[] | select(.action == "add") | [.label.name, .user.username] | @tsv')
fi

for label in $(printf '%s\n' "$labels" | grep -E "^reconciler:allow-($gates)\$" || true); do
  by=$(printf '%s\n' "$events" | awk -F '\t' -v l="$label" '$1 == l { who = $2 } END { print who }')
  [ -n "$by" ] && [ "$by" != "$author" ] || continue
  if [ "$platform" = github ]; then
    level=$(gh api "repos/$repository/collaborators/$by/permission" --jq .permission)
    case $level in admin|maintain) ;; *) continue ;; esac
  else
    user=$(get "$CI_API_V4_URL/users?username=$by" | jq -r '.[0].id')
    level=$(get "$api/members/all/$user" | jq -r .access_level)
    [ "$level" -ge 40 ] || continue
  fi
  echo "--${label#reconciler:}"
done
