#!/bin/sh
# dogcli's container entrypoint.
#   fetch-loop               dogcli fetch now, then every $FETCH_EVERY seconds (600) on the clock
#   every PERIOD[+OFFSET] ARGS...
#                            dogcli ARGS now, then at every multiple of PERIOD seconds since
#                            the epoch (UTC), shifted by OFFSET: `every 86400+11820 cleanup`
#                            runs cleanup daily at 03:17 UTC
#   healthcheck              dogcli -q health for Docker's HEALTHCHECK: WARNING counts as
#                            healthy (as in the systemd units); CRITICAL/UNKNOWN exit 1, since
#                            Docker reserves exit 2
#   anything else            passed to dogcli as it is (health, stats, backfill DAY..DAY, ...)
# SIGTERM (docker stop) is passed on to a running dogcli, which ends its run cleanly (exit 143).
# $DOGCLI names the dogcli executable (the tests point it at a virtualenv's).
set -eu

DOGCLI="${DOGCLI:-dogcli}"
child=""

stop() {
    trap - TERM INT
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit 143
}

every() {
    spec="$1"
    shift
    period="${spec%%+*}"
    offset=0
    case "$spec" in *+*) offset="${spec#*+}" ;; esac
    case "$period$offset" in *[!0-9]*)
        echo "entrypoint: every PERIOD[+OFFSET] takes whole seconds, got '$spec'" >&2
        exit 2 ;;
    esac
    if [ "$period" -lt 1 ]; then
        echo "entrypoint: the period must be at least 1 second" >&2
        exit 2
    fi
    trap stop TERM INT
    while :; do
        # In the background so that a signal is handled at once, not after the run.
        "$DOGCLI" "$@" &
        child=$!
        status=0
        wait "$child" || status=$?
        child=""
        if [ "$status" -ne 0 ] && [ "$status" -ne 75 ]; then
            echo "entrypoint: dogcli $* exited $status" >&2
        fi
        now=$(date +%s)
        sleep $((period - (now - offset) % period)) &
        child=$!
        wait "$child" || true
        child=""
    done
}

case "${1:-fetch-loop}" in
    fetch-loop)
        every "${FETCH_EVERY:-600}" fetch ;;
    every)
        if [ $# -lt 3 ]; then
            echo "entrypoint: usage: every PERIOD[+OFFSET] DOGCLI-ARGS..." >&2
            exit 2
        fi
        shift
        every "$@" ;;
    healthcheck)
        status=0
        "$DOGCLI" -q health || status=$?
        [ "$status" -le 1 ] || exit 1 ;;
    *)
        exec "$DOGCLI" "$@" ;;
esac
