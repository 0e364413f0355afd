#!/bin/sh
# One comparison per `docker compose up`: plain Locust, once per service, one after the other.
#
#   locust-compare.sh master RESULTS BASE_PORT NAME=URL... -- LOCUST_MASTER_COMMAND...
#       For each NAME=URL in order, run the master command with --host URL,
#       --master-bind-port BASE_PORT+i and its CSV/JSON/HTML in RESULTS/compose-<UTC time>/NAME/.
#       Every target runs even if one fails; the exit code is the last non-zero one (Locust
#       exits 1 when any request failed), so `--exit-code-from locust-master` reports it.
#   locust-compare.sh worker BASE_PORT NAME... -- LOCUST_WORKER_COMMAND...
#       For each NAME in order, run the worker command with --master-port BASE_PORT+i.
#
# Why one master container with a loop and not one master service per target: a Locust 2.47
# worker does not outlive its master (runners.py: the master sends "quit" to every worker when
# it stops, and the worker process exits), so each measurement needs its own worker processes,
# and the shared results directory needs one timestamp, which two containers cannot agree on.
# Why one master port per target: a worker started for the next target connects to a port only
# that target's master binds, so it can never register with the previous master while that one
# is still shutting down; it waits (Locust retries for 5 minutes) until the next master is up.
set -u

port_of() { echo $(($1 + $2)); }

mode=${1:?usage: locust-compare.sh master|worker ...}
shift
case $mode in
master)
    root=$1 base=$2
    shift 2
    targets=
    while [ "$1" != -- ]; do targets="$targets $1"; shift; done
    shift
    out=$root/compose-$(date -u +%Y%m%dT%H%M%SZ)
    status=0 i=0
    for target in $targets; do
        name=${target%%=*} url=${target#*=}
        mkdir -p "$out/$name" || exit 1
        echo "chatbench: measuring $name at $url, Locust output in $out/$name/"
        "$@" --host "$url" --master-bind-port "$(port_of "$base" $i)" \
            --csv "$out/$name/locust" --json-file "$out/$name/locust" \
            --html "$out/$name/locust.html" || status=$?
        i=$((i + 1))
    done
    echo "chatbench: comparison finished (exit $status): $out"
    exit $status
    ;;
worker)
    base=$1
    shift
    names=
    while [ "$1" != -- ]; do names="$names $1"; shift; done
    shift
    i=0
    for name in $names; do
        echo "chatbench: worker for $name, master port $(port_of "$base" $i)"
        "$@" --master-port "$(port_of "$base" $i)" || exit $?
        i=$((i + 1))
    done
    ;;
*)
    echo "locust-compare.sh: unknown mode $mode (master or worker)" >&2
    exit 2
    ;;
esac
