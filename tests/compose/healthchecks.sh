#!/usr/bin/env bash
# Runs `podman healthcheck run` for every running container of compose project $1 that has a
# healthcheck, at the container's own interval -- and every START_INTERVAL seconds during its start
# period until it is healthy, like Docker's start interval. Checks of different containers run in
# parallel, never two at once for the same container (an `airflow jobs check` takes seconds here).
# podman 4.3 would schedule these with systemd timers; there is no systemd here.
set -uo pipefail
project="$1"
START_INTERVAL="${AIRFLOW_OPS_HEALTH_START_INTERVAL:-10}"
declare -A next_at interval_of start_until running
while true; do
  now=$(date +%s)
  while read -r id; do
    [ -n "$id" ] || continue
    if [ -z "${next_at[$id]:-}" ]; then
      read -r interval start_period started < <(podman inspect --format \
        '{{if .Config.Healthcheck}}{{printf "%.0f %.0f" .Config.Healthcheck.Interval.Seconds .Config.Healthcheck.StartPeriod.Seconds}}{{else}}0 0{{end}} {{.State.StartedAt.Unix}}' \
        "$id" 2>/dev/null) || continue
      if ! [ "${interval:-0}" -gt 0 ] 2>/dev/null; then next_at[$id]=never; continue; fi
      next_at[$id]=$((now + 2))
      interval_of[$id]=$interval
      start_until[$id]=$((started + start_period))
    fi
    [ "${next_at[$id]}" = never ] && continue
    [ "$now" -ge "${next_at[$id]}" ] || continue
    if [ -n "${running[$id]:-}" ] && kill -0 "${running[$id]}" 2>/dev/null; then continue; fi
    status=$(podman inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null)
    podman healthcheck run "$id" >/dev/null 2>&1 &
    running[$id]=$!
    if [ "$now" -lt "${start_until[$id]}" ] && [ "$status" != healthy ]; then
      next_at[$id]=$((now + START_INTERVAL))
    else
      next_at[$id]=$((now + ${interval_of[$id]}))
    fi
  done < <(podman ps -q --no-trunc --filter "label=com.docker.compose.project=$project" 2>/dev/null)
  sleep 1
done
