# A cluster CA made once per run, sourced by test-lib.sh (so test bodies
# run inside a node have it too).
#
#	node_seed_ca n1			# the run's CA in n1's /etc/pve
#	node_exec n1 pvecm create testclu	# keeps it
#
# pvecm create makes a 4096-bit RSA cluster CA, which takes seconds on a
# loaded machine, unless /etc/pve already holds one: like the reference,
# it keeps an existing CA. Tests that are not about making the CA put the
# run's CA in place first, the way an admin could (pmxcfsd serving /etc/pve
# in local mode, before create), so that the key is generated once per run
# and not once per cluster. Tests of the CA's creation (t0710, t0730) do not
# call these.

TEST_CA_CERT=pve-root-ca.pem
TEST_CA_KEY=pve-root-ca.key

# test_ca_dir: where the run's CA is kept: tests/run.sh's directory, shared
# by every test script it runs; for a script run by itself, its own TRASH
test_ca_dir () {
	say "${TEST_RUN_DIR:-$TRASH}/test-ca"
}

# test_ca_ensure: makes the run's CA on first use. A complete CA appears in
# one rename, so a reader never sees half of one.
test_ca_ensure () {
	local dir tmp
	dir=$(test_ca_dir)
	[ -s "$dir/$TEST_CA_CERT" ] && [ -s "$dir/$TEST_CA_KEY" ] && return 0
	tmp=$(mktemp -d "$dir.XXXXXX") || return 1
	# what pvecm create makes: same subject layout, key size, lifetime and
	# CA extensions
	if ! openssl req -batch -x509 -newkey rsa:4096 -nodes -days 3650 \
		-subj "/CN=Proxmox Virtual Environment/OU=$(cat /proc/sys/kernel/random/uuid)/O=PVE Cluster Manager CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$tmp/$TEST_CA_KEY" -out "$tmp/$TEST_CA_CERT" >"$tmp/openssl.log" 2>&1; then
		cat "$tmp/openssl.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	# another script of the run may have won the race: keep its CA
	mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	[ -s "$dir/$TEST_CA_CERT" ] && [ -s "$dir/$TEST_CA_KEY" ]
}

# node_seed_ca NAME: the run's CA in the node's /etc/pve (pmxcfsd must
# serve it writable), key first as pvecm writes it
node_seed_ca () {
	local dir
	# without openssl pvecm create makes the CA itself: slower, as good
	command -v openssl >/dev/null || return 0
	test_ca_ensure || return 1
	dir=$(test_ca_dir)
	node_exec "$1" sh -c "mkdir -p $PVE/priv && cat >$PVE/priv/$TEST_CA_KEY" <"$dir/$TEST_CA_KEY" &&
		node_exec "$1" sh -c "cat >$PVE/$TEST_CA_CERT" <"$dir/$TEST_CA_CERT"
}

# node_has_test_ca NAME: the node's /etc/pve holds the run's CA, unchanged
node_has_test_ca () {
	local dir
	dir=$(test_ca_dir)
	node_exec "$1" cat "$PVE/$TEST_CA_CERT" | cmp -s - "$dir/$TEST_CA_CERT" &&
		node_exec "$1" cat "$PVE/priv/$TEST_CA_KEY" | cmp -s - "$dir/$TEST_CA_KEY"
}
