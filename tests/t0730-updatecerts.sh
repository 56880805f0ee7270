#!/bin/bash
test_description='pvecm updatecerts: cluster CA, node certificate, shared SSH keys

A node with its own SSH host keys and pmxcfsd in local mode. updatecerts
creates the cluster CA once, a node certificate signed by it for the
node name and addresses, root'"'"'s key pair, and the cluster-wide
authorized_keys and known_hosts in /etc/pve/priv that root'"'"'s
authorized_keys and the global ssh_known_hosts link to. A second run
changes nothing; --force replaces the node certificate, never the CA; new
host keys replace the node'"'"'s old ones in known_hosts. Without pmxcfsd,
or without quorum, it fails in one line, and --silent lets that pass.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_program pvecm
for p in openssl ssh-keygen; do
	command -v $p >/dev/null || skip_all "needs $p"
done

# new_host_keys: the node's own host keys, as an installation makes them
# (its /etc is an overlay of the host's: the host's keys are hidden)
new_host_keys () {
	rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null
}
export -f new_host_keys

# files_digest: every file updatecerts writes, and where the links point
files_digest () {
	{
		cat /etc/pve/pve-root-ca.pem /etc/pve/priv/pve-root-ca.key \
			/etc/pve/priv/pve-root-ca.srl /etc/pve/nodes/n1/pve-ssl.pem \
			/etc/pve/nodes/n1/pve-ssl.key /etc/pve/priv/authorized_keys \
			/etc/pve/priv/known_hosts /root/.ssh/id_rsa /root/.ssh/id_rsa.pub
		readlink /root/.ssh/authorized_keys /etc/ssh/ssh_known_hosts
	} | sha256sum
}
export -f files_digest

cert_fingerprint () {
	openssl x509 -noout -fingerprint -sha256 -in "${1:-/etc/pve/nodes/n1/pve-ssl.pem}"
}
export -f cert_fingerprint

# host_key_lines: "TYPE BASE64" of each of the node's host keys
host_key_lines () {
	for f in /etc/ssh/ssh_host_*_key.pub; do
		cut -d" " -f1,2 "$f"
	done
}
export -f host_key_lines

node_create n1
node_sh n1 new_host_keys || error "cannot make the host keys of n1"
node_start_pmxcfsd n1 -l || error "cannot start pmxcfsd on n1"
test_node n1

test_expect_success 'a fresh node has none of the files' '
	test ! -e /etc/pve/pve-root-ca.pem &&
	test ! -e /etc/pve/nodes/n1/pve-ssl.pem &&
	test ! -e /etc/pve/priv/known_hosts &&
	test ! -e /root/.ssh/id_rsa &&
	test ! -e /etc/ssh/ssh_known_hosts &&
	test "$(host_key_lines | wc -l)" -ge 2
'

test_expect_success 'updatecerts creates the CA, the node certificate and the SSH files' '
	pvecm updatecerts >out 2>err &&
	cat out err &&
	test ! -s err &&
	cat >expect <<-EOF &&
	(re)generate node files
	generate new cluster CA certificate
	generate new node certificate (none yet)
	generate new SSH key pair for root
	merge authorized SSH keys and known hosts
	EOF
	test_cmp expect out &&
	test "$(stat -c %a /etc/pve/pve-root-ca.pem)" = 640 &&
	test "$(stat -c %a /etc/pve/priv/pve-root-ca.key)" = 600 &&
	test "$(stat -c %a /etc/pve/priv/pve-root-ca.srl)" = 600 &&
	test "$(stat -c %a /etc/pve/nodes/n1/pve-ssl.pem)" = 640 &&
	test "$(stat -c %a /etc/pve/nodes/n1/pve-ssl.key)" = 640 &&
	test "$(stat -c %a /etc/pve/priv/authorized_keys)" = 600 &&
	test "$(stat -c %a /etc/pve/priv/known_hosts)" = 600 &&
	test "$(stat -c %a /root/.ssh/id_rsa)" = 600 &&
	test "$(stat -c %a /root/.ssh/id_rsa.pub)" = 644 &&
	! ls /etc/pve /etc/pve/priv /etc/pve/nodes/n1 /root/.ssh | grep -q "\.tmp\."
'

test_expect_success 'the CA is a 10-year CA of its own' '
	openssl x509 -noout -subject -in /etc/pve/pve-root-ca.pem >subject &&
	cat subject &&
	grep -q "CN *= *Proxmox Virtual Environment" subject &&
	grep -q "O *= *PVE Cluster Manager CA" subject &&
	openssl x509 -noout -ext basicConstraints,keyUsage -in /etc/pve/pve-root-ca.pem >ext &&
	cat ext &&
	grep -q "critical" ext &&
	grep -q "CA:TRUE" ext &&
	grep -q "Certificate Sign, CRL Sign" ext &&
	openssl x509 -noout -checkend $((9 * 365 * 86400)) -in /etc/pve/pve-root-ca.pem &&
	openssl verify -CAfile /etc/pve/pve-root-ca.pem /etc/pve/pve-root-ca.pem &&
	test "$(openssl x509 -noout -pubkey -in /etc/pve/pve-root-ca.pem)" = \
		"$(openssl pkey -pubout -in /etc/pve/priv/pve-root-ca.key)"
'

test_expect_success 'the node certificate verifies against the CA and names the node' '
	openssl verify -CAfile /etc/pve/pve-root-ca.pem /etc/pve/nodes/n1/pve-ssl.pem >out &&
	cat out &&
	test "$(cat out)" = "/etc/pve/nodes/n1/pve-ssl.pem: OK" &&
	openssl x509 -noout -subject -in /etc/pve/nodes/n1/pve-ssl.pem | grep -q "CN *= *n1" &&
	openssl x509 -noout -ext subjectAltName -in /etc/pve/nodes/n1/pve-ssl.pem >sans &&
	cat sans &&
	tail -n1 sans | tr -d " " | tr , "\n" | sort >actual &&
	printf "%s\n" DNS:localhost DNS:n1 "IPAddress:$(node_ip n1)" IPAddress:127.0.0.1 |
		sort >expect &&
	test_cmp expect actual &&
	openssl x509 -noout -ext extendedKeyUsage -in /etc/pve/nodes/n1/pve-ssl.pem |
		grep -q "TLS Web Server Authentication" &&
	openssl x509 -noout -checkend $((700 * 86400)) -in /etc/pve/nodes/n1/pve-ssl.pem &&
	test "$(openssl x509 -noout -pubkey -in /etc/pve/nodes/n1/pve-ssl.pem)" = \
		"$(openssl pkey -pubout -in /etc/pve/nodes/n1/pve-ssl.key)"
'

test_expect_success 'known_hosts has the host keys under the node name and address' '
	cat /etc/pve/priv/known_hosts &&
	host_key_lines >keys &&
	while read -r key; do
		grep -qxF "n1 $key" /etc/pve/priv/known_hosts &&
		grep -qxF "$(node_ip n1) $key" /etc/pve/priv/known_hosts || return 1
	done <keys &&
	test "$(wc -l </etc/pve/priv/known_hosts)" = $((2 * $(wc -l <keys))) &&
	test "$(readlink /etc/ssh/ssh_known_hosts)" = /etc/pve/priv/known_hosts &&
	ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2 >expect &&
	ssh-keygen -l -F n1 -f /etc/ssh/ssh_known_hosts | grep ED25519 | cut -d" " -f3 >actual &&
	test_cmp expect actual
'

test_expect_success 'authorized_keys has root'"'"'s key; root'"'"'s authorized_keys links to it' '
	cat /etc/pve/priv/authorized_keys &&
	test "$(cat /etc/pve/priv/authorized_keys)" = "$(cat /root/.ssh/id_rsa.pub)" &&
	test "$(readlink /root/.ssh/authorized_keys)" = /etc/pve/priv/authorized_keys &&
	test "$(ssh-keygen -y -f /root/.ssh/id_rsa | cut -d" " -f1,2)" = \
		"$(cut -d" " -f1,2 /root/.ssh/id_rsa.pub)" &&
	grep -q " root@n1$" /root/.ssh/id_rsa.pub
'

test_expect_success 'a second run keeps the certificate and writes nothing' '
	before=$(files_digest) &&
	fp=$(cert_fingerprint) &&
	pvecm updatecerts >out 2>err &&
	cat out err &&
	test ! -s err &&
	! grep -q "^generate" out &&
	test "$(cert_fingerprint)" = "$fp" &&
	test "$(files_digest)" = "$before"
'

test_expect_success '--silent prints nothing' '
	pvecm updatecerts --silent >out 2>err &&
	test ! -s out &&
	test ! -s err
'

test_expect_success '--force replaces the node certificate and keeps the CA' '
	ca=$(cert_fingerprint /etc/pve/pve-root-ca.pem) &&
	cakey=$(sha256sum </etc/pve/priv/pve-root-ca.key) &&
	fp=$(cert_fingerprint) &&
	key=$(sha256sum </etc/pve/nodes/n1/pve-ssl.key) &&
	pvecm updatecerts --force >out 2>err &&
	cat out err &&
	grep -qx "generate new node certificate" out &&
	! grep -q "CA" out &&
	test "$(cert_fingerprint)" != "$fp" &&
	test "$(sha256sum </etc/pve/nodes/n1/pve-ssl.key)" != "$key" &&
	test "$(cert_fingerprint /etc/pve/pve-root-ca.pem)" = "$ca" &&
	test "$(sha256sum </etc/pve/priv/pve-root-ca.key)" = "$cakey" &&
	openssl verify -CAfile /etc/pve/pve-root-ca.pem /etc/pve/nodes/n1/pve-ssl.pem
'

test_expect_success 'new host keys replace the node'"'"'s old ones; other nodes'"'"' lines stay' '
	old=$(cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub) &&
	rm -f n2key n2key.pub &&
	ssh-keygen -q -t ed25519 -N "" -f n2key &&
	n2=$(cut -d" " -f1,2 n2key.pub) &&
	{ cat /etc/pve/priv/known_hosts && echo "n2 $n2"; } >kh &&
	cat kh >/etc/pve/priv/known_hosts &&
	new_host_keys &&
	test "$(cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub)" != "$old" &&
	pvecm updatecerts >out 2>err &&
	cat out err /etc/pve/priv/known_hosts &&
	! grep -qF "$old" /etc/pve/priv/known_hosts &&
	grep -qxF "n2 $n2" /etc/pve/priv/known_hosts &&
	host_key_lines >keys &&
	while read -r key; do
		grep -qxF "n1 $key" /etc/pve/priv/known_hosts || return 1
	done <keys &&
	test "$(grep -c "^n1 " /etc/pve/priv/known_hosts)" = "$(wc -l <keys)" &&
	ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2 >expect &&
	ssh-keygen -l -F "$(node_ip n1)" -f /etc/ssh/ssh_known_hosts | grep ED25519 |
		cut -d" " -f3 >actual &&
	test_cmp expect actual
'

test_expect_success 'a regular authorized_keys of root is merged, then replaced by the link' '
	rm -f /root/.ssh/authorized_keys adminkey adminkey.pub &&
	ssh-keygen -q -t ed25519 -N "" -C admin@laptop -f adminkey &&
	cp adminkey.pub /root/.ssh/authorized_keys &&
	pvecm updatecerts >out 2>err &&
	cat out err /etc/pve/priv/authorized_keys &&
	test "$(readlink /root/.ssh/authorized_keys)" = /etc/pve/priv/authorized_keys &&
	grep -q " admin@laptop$" /etc/pve/priv/authorized_keys &&
	grep -qxF "$(cat /root/.ssh/id_rsa.pub)" /etc/pve/priv/authorized_keys &&
	test "$(wc -l </etc/pve/priv/authorized_keys)" = 2 &&
	pvecm updatecerts >out &&
	test "$(wc -l </etc/pve/priv/authorized_keys)" = 2
'

test_expect_success 'addresses come from corosync.conf when the node is listed there' '
	fp=$(cert_fingerprint) &&
	cat >/etc/pve/corosync.conf <<-EOF &&
	nodelist {
	  node {
	    name: n1
	    nodeid: 1
	    ring0_addr: $(node_ip n1)
	    ring1_addr: 10.99.0.1
	  }
	}
	EOF
	pvecm updatecerts >out 2>err &&
	cat out err &&
	grep -qx "generate new node certificate (addresses changed)" out &&
	test "$(cert_fingerprint)" != "$fp" &&
	openssl x509 -noout -ext subjectAltName -in /etc/pve/nodes/n1/pve-ssl.pem >sans &&
	cat sans &&
	grep -q "IP Address:10.99.0.1" sans &&
	grep -q "IP Address:$(node_ip n1)" sans &&
	grep -q "^10.99.0.1 ssh-ed25519 " /etc/pve/priv/known_hosts &&
	rm /etc/pve/corosync.conf
'

test_expect_success '--unmerge-known-hosts: ssh_known_hosts becomes a local copy, and stays so' '
	test -L /etc/ssh/ssh_known_hosts &&
	cp /etc/pve/priv/known_hosts cluster &&
	pvecm updatecerts --unmerge-known-hosts >out 2>err &&
	grep -qx "unmerge SSH known hosts" out &&
	test ! -L /etc/ssh/ssh_known_hosts &&
	head -n 1 /etc/ssh/ssh_known_hosts | grep -q "^# local file, not merged" &&
	tail -n +2 /etc/ssh/ssh_known_hosts | cmp - cluster &&
	test_cmp cluster /etc/pve/priv/known_hosts &&
	echo "local-only ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnly" >>/etc/ssh/ssh_known_hosts &&
	pvecm updatecerts >out 2>err &&
	test ! -L /etc/ssh/ssh_known_hosts &&
	grep -q "^local-only " /etc/ssh/ssh_known_hosts &&
	! grep -q "^local-only " /etc/pve/priv/known_hosts &&
	test_cmp cluster /etc/pve/priv/known_hosts &&
	sed -i 1d /etc/ssh/ssh_known_hosts &&
	pvecm updatecerts >out 2>err &&
	test "$(readlink /etc/ssh/ssh_known_hosts)" = /etc/pve/priv/known_hosts &&
	grep -q "^local-only " /etc/pve/priv/known_hosts
'

test_expect_success 'half a CA is refused, naming the missing file, and nothing changes' '
	mv /etc/pve/priv/pve-root-ca.key /etc/pve/priv/saved.key &&
	before=$(sha256sum </etc/pve/nodes/n1/pve-ssl.pem) &&
	test_exit_code 1 pvecm updatecerts --force >out 2>err &&
	cat out err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "/etc/pve/priv/pve-root-ca.key is missing" err &&
	test ! -e /etc/pve/priv/pve-root-ca.key &&
	test "$(sha256sum </etc/pve/nodes/n1/pve-ssl.pem)" = "$before" &&
	mv /etc/pve/priv/saved.key /etc/pve/priv/pve-root-ca.key &&
	pvecm updatecerts
'

test_node

test_expect_success 'without pmxcfsd: exit 2 with one line; --silent exits 0 quietly' '
	node_stop_pmxcfsd n1 &&
	test_exit_code 2 node_exec n1 pvecm updatecerts >out 2>err &&
	cat out err &&
	test ! -s out &&
	test "$(wc -l <err)" = 1 &&
	grep -q "pmxcfsd is not running" err &&
	node_exec n1 pvecm updatecerts --silent >out 2>err &&
	test ! -s out &&
	test ! -s err
'

test_expect_success 'without quorum: exit 2 with one line; --silent exits 0 quietly' '
	node_start_pmxcfsd n1 -l &&
	node_exec n1 sh -c "cat >/etc/pve/corosync.conf" <<-EOF &&
	totem {
	  cluster_name: solo
	  config_version: 1
	}
	nodelist {
	  node {
	    name: n1
	    nodeid: 1
	    ring0_addr: $(node_ip n1)
	  }
	}
	EOF
	node_stop_pmxcfsd n1 &&
	node_start_pmxcfsd n1 &&
	test "$(node_pve_quorate n1)" = 0 &&
	before=$(node_sh n1 files_digest) &&
	test_exit_code 2 node_exec n1 pvecm updatecerts --force >out 2>err &&
	cat out err &&
	test ! -s out &&
	test "$(wc -l <err)" = 1 &&
	grep -q "not quorate" err &&
	node_exec n1 pvecm updatecerts --force --silent >out 2>err &&
	test ! -s out &&
	test ! -s err &&
	test "$(node_sh n1 files_digest)" = "$before"
'

test_done
