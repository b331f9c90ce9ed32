#!/usr/bin/env bash
# Runs `podman healthcheck run` for every running container of compose project $1 that has a
# healthcheck, as Docker schedules it: the first check one interval after the container started, then
# one every interval (failures inside the start period do not count; podman applies that). Checks of
# different containers run in parallel, never two at once for the same container.
# podman 4.3 would schedule these with systemd timers; there is no systemd here.
set -uo pipefail
project="$1"
declare -A next_at interval_of running
while true; do
  now=$(date +%s)
  while read -r id; do
    [ -n "$id" ] || continue
    if [ -z "${next_at[$id]:-}" ]; then
      read -r interval started < <(podman inspect --format \
        '{{if .Config.Healthcheck}}{{printf "%.0f" .Config.Healthcheck.Interval.Seconds}}{{else}}0{{end}} {{.State.StartedAt.Unix}}' \
        "$id" 2>/dev/null) || continue
      if ! [ "${interval:-0}" -gt 0 ] 2>/dev/null; then next_at[$id]=never; continue; fi
      interval_of[$id]=$interval
      next_at[$id]=$((started + interval))
    fi
    [ "${next_at[$id]}" = never ] && continue
    [ "$now" -ge "${next_at[$id]}" ] || continue
    if [ -n "${running[$id]:-}" ] && kill -0 "${running[$id]}" 2>/dev/null; then continue; fi
    podman healthcheck run "$id" >/dev/null 2>&1 &
    running[$id]=$!
    next_at[$id]=$((now + ${interval_of[$id]}))
  done < <(podman ps -q --no-trunc --filter "label=com.docker.compose.project=$project" 2>/dev/null)
  sleep 1
done
