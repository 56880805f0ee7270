#!/bin/bash
# A guided tour: pmxcfsd serving /etc/pve on a node of its own (a network,
# mount and UTS namespace on this machine), a few files written and read
# back, the virtual files, and pvecm status. Everything it starts is
# removed at the end, also when it is interrupted.
#
# usage: BUILD=build tests/demo.sh   (make demo does this)

. "$(dirname "$0")/lib/test-lib.sh"
[ "$(id -u)" = 0 ] || error "the demo needs root (namespaces and FUSE)"
[ -c /dev/fuse ] || error "the demo needs /dev/fuse"
test_require_program pmxcfsd pvecm

if [ -t 1 ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
else
	bold='' plain=''
fi
step () {
	printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"
}

# run: show a command as typed on the node, then run it there
run () {
	printf '%s# %s\n' "demo1:" "$*"
	node_exec demo1 bash -c "$*" 2>&1
}

step "Create a node 'demo1' ($TEST_NET.1) in its own namespaces"
node_create demo1 || error "could not create the node"
say "The node has its own network, hostname, /run and /var/lib/pve-cluster;"
say "the host's /etc/pve is not touched."
run 'hostname; ip -brief address show eth0; getent hosts demo1'

step "Start pmxcfsd in local mode (no cluster needed): it mounts /etc/pve"
run 'pmxcfsd -l && echo "pmxcfsd returned once /etc/pve was mounted"' || error "pmxcfsd did not start"
run 'findmnt /etc/pve'

step "The tree it created: one directory per node, links to the local one"
run 'ls -la /etc/pve /etc/pve/nodes/demo1'

step "Write a few files, read them back"
run 'echo "keyboard: en-us" > /etc/pve/datacenter.cfg'
run 'printf "memory: 2048\ncores: 2\nname: web\n" > /etc/pve/qemu-server/100.conf'
run 'printf "memory: 512\nhostname: dns\n" > /etc/pve/lxc/101.conf'
run 'cat /etc/pve/datacenter.cfg /etc/pve/nodes/demo1/qemu-server/100.conf'
run 'stat -c "%n  %a %U:%G  %s bytes" /etc/pve/datacenter.cfg /etc/pve/qemu-server/100.conf'

step "Edit a file the safe way: copy, change, rename over it"
run 'cp /etc/pve/datacenter.cfg /etc/pve/datacenter.cfg.new && echo "console: html5" >> /etc/pve/datacenter.cfg.new && mv /etc/pve/datacenter.cfg.new /etc/pve/datacenter.cfg && cat /etc/pve/datacenter.cfg'

step "Guest IDs are unique: another node may not take ID 100"
run 'mkdir -p /etc/pve/nodes/demo2/qemu-server; echo "memory: 64" > /etc/pve/nodes/demo2/qemu-server/100.conf || echo "(refused, as it should be)"'

step "The virtual files: .members and .vmlist (JSON)"
run 'cat /etc/pve/.members'
run 'cat /etc/pve/.vmlist'
run 'cat /etc/pve/.version'

step "Restart the daemon: the files persist in /var/lib/pve-cluster/config.db"
run 'kill -TERM $(cat /run/pmxcfsd/pmxcfsd.pid); while mountpoint -q /etc/pve; do sleep 0.05; done; echo stopped'
run 'ls -la /var/lib/pve-cluster/'
run 'pmxcfsd -l && cat /etc/pve/qemu-server/100.conf' || error "pmxcfsd did not start again"

step "pvecm status: this node is not part of a cluster yet"
run 'pvecm status; echo "(exit code $?)"'

step "Stop the daemon"
run 'kill -TERM $(cat /run/pmxcfsd/pmxcfsd.pid); while mountpoint -q /etc/pve; do sleep 0.05; done; echo stopped'
run 'pvecm status; echo "(exit code $?)"'

step "Done. Removing the node (namespaces, mounts, files)."
# the EXIT trap of the test library removes everything
exit 0
