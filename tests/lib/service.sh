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
[ $# = 2 ] || { say "usage: service.sh start|stop|restart|reload|is-active|enable|disable UNIT" >&2; exit 2; }

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
corosync-qdevice)
	running () { node_qdevice_running "$name"; }
	start () { node_start_qdevice "$name"; }
	stop () { node_stop_qdevice "$name"; }
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
# whether the unit would start at boot: a mark the tests can look at
enable) : >"$TRASH/nodes/$name/$unit.enabled" ;;
disable) rm -f "$TRASH/nodes/$name/$unit.enabled" ;;
*)
	say "service.sh: unknown action $action" >&2
	exit 2
	;;
esac
