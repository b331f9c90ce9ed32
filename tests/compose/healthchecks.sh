#!/usr/bin/env bash
# Runs `podman healthcheck run` for every running container of compose project $1 that has a
# healthcheck, at the container's own interval -- and, during its start period until it is healthy,
# every third of that interval (at least 5 s), like Docker's start interval: a 60 s `airflow jobs check`
# is tried every 20 s while the component starts, not back to back (each costs seconds of CPU here).
# Checks of different containers run in parallel, never two at once for the same container.
# podman 4.3 would schedule these with systemd timers; there is no systemd here.
set -uo pipefail
project="$1"
declare -A next_at interval_of start_interval_of start_until running
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
      start_interval_of[$id]=$((interval / 3 > 5 ? interval / 3 : 5))
      start_until[$id]=$((started + start_period))
    fi
    [ "${next_at[$id]}" = never ] && continue
    [ "$now" -ge "${next_at[$id]}" ] || continue
    if [ -n "${running[$id]:-}" ] && kill -0 "${running[$id]}" 2>/dev/null; then continue; fi
    status=$(podman inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null)
    podman healthcheck run "$id" >/dev/null 2>&1 &
    running[$id]=$!
    if [ "$now" -lt "${start_until[$id]}" ] && [ "$status" != healthy ]; then
      next_at[$id]=$((now + ${start_interval_of[$id]}))
    else
      next_at[$id]=$((now + ${interval_of[$id]}))
    fi
  done < <(podman ps -q --no-trunc --filter "label=com.docker.compose.project=$project" 2>/dev/null)
  sleep 1
done
