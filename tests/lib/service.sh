#!/bin/bash
# The service seam for tests (PVECM_SERVICE_CMD): `service.sh ACTION UNIT`
# as pvecm calls `systemctl ACTION UNIT`, for the node it runs in. It starts
# the real daemons there with the harness's helpers, so their pids and logs
# are where the tests and the cleanup look for them.

# Daemons started here must not belong to the caller's session: like those
# systemd starts, they outlive the terminal pvecm ran on (which hangs up
# its session when it closes).
if [ -z "$SERVICE_SH_SESSION" ]; then
	SERVICE_SH_SESSION=1 exec setsid -w "$0" "$@"
fi
. "$TEST_LIB_DIR/test-lib.sh" || exit 1

action=$1 unit=$2 name=$(hostname)
[ $# = 2 ] || { say "usage: service.sh start|stop|restart|reload|is-active UNIT" >&2; exit 2; }

case $unit in
corosync)
	running () { node_corosync_running "$name"; }
	start () { node_start_corosync "$name"; }
	stop () { node_stop_corosync "$name"; }
	reload () { corosync-cfgtool -R; }
	;;
pmxcfsd | pve-cluster)
	running () { pid=$(node_pmxcfsd_pid "$name") && pid_alive "$pid"; }
	start () { node_start_pmxcfsd "$name"; }
	stop () { node_stop_pmxcfsd "$name"; }
	reload () { :; }
	;;
*)
	say "service.sh: unit $unit not found" >&2
	exit 5
	;;
esac

say "=== $(date '+%F %T.%N') service.sh $action $unit" >>"$TRASH/nodes/$name/service.log"
case $action in
start) running || start ;;
stop) ! running || stop ;;
restart) { ! running || stop; } && start ;;
reload) running && reload ;;
is-active) running || exit 3 ;;
*)
	say "service.sh: unknown action $action" >&2
	exit 2
	;;
esac
