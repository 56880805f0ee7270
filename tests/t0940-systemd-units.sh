#!/bin/bash
test_description='the systemd units we ship

`make install` puts every unit of systemd/ into the unit directory, and
`systemd-analyze verify` accepts each of them in the installed tree (its
programs and man pages there, the system'"'"'s own units beside them), with no
warning. A unit written as pvecm(1) tells an admin to (ordered after
pve-quorum.target) verifies too.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_program pvecm pmxcfsd

command -v systemd-analyze >/dev/null ||
	skip_all "needs systemd-analyze (tests/install-deps.sh installs systemd)"

ROOT="$TRASH/root"
UNITDIR=/lib/systemd/system
export ROOT UNITDIR

# verify UNITFILE: systemd-analyze verify in the installed tree; any output
# (a warning, an unknown key) counts as a failure
verify () {
	MANPATH="$ROOT/usr/share/man" systemd-analyze verify --root="$ROOT" "$1" >verify.out 2>&1
	local rc=$?
	cat verify.out
	[ $rc = 0 ] && [ ! -s verify.out ]
}

test_expect_success 'make install puts every unit of systemd/ into the unit directory' '
	make -s -C "$SRC_ROOT" install BUILD="$BUILD" DESTDIR="$ROOT" UNITDIR="$UNITDIR" &&
	ls "$SRC_ROOT/systemd" >shipped &&
	test -s shipped &&
	while read -r u; do
		cmp "$SRC_ROOT/systemd/$u" "$ROOT$UNITDIR/$u" || return 1
	done <shipped &&
	test -x "$ROOT/usr/bin/pvecm" && test -x "$ROOT/usr/sbin/pmxcfsd"
'

test_expect_success 'the system'"'"'s units are beside ours (targets, corosync)' '
	mkdir -p "$ROOT/usr/lib/systemd" "$ROOT/etc/systemd/system" &&
	cp -a /usr/lib/systemd/system "$ROOT/usr/lib/systemd/" &&
	test -e "$ROOT/usr/lib/systemd/system/sysinit.target"
'

for unit in $(ls "$SRC_ROOT/systemd"); do
	test_expect_success "systemd-analyze verify accepts $unit" "
		verify \"\$ROOT$UNITDIR/$unit\"
	"
done

test_expect_success 'a unit ordered after pve-quorum.target as pvecm(1) shows verifies' '
	sed -n "/^Requires=pve-quorum.target/p; /^After=pve-quorum.target/p" \
		"$SRC_ROOT/man/pvecm.1" >lines &&
	test $(wc -l <lines) = 2 &&
	{
		printf "[Unit]\nDescription=Start the guests once quorate\n" &&
		cat lines &&
		printf "[Service]\nType=oneshot\nExecStart=/usr/bin/pvecm status\n"
	} >"$ROOT/etc/systemd/system/guests.service" &&
	verify "$ROOT/etc/systemd/system/guests.service"
'

test_expect_success 'verify is not a rubber stamp: a misspelt target is refused' '
	sed "s/pve-quorum.target/pve-quorom.target/" "$ROOT/etc/systemd/system/guests.service" \
		>"$ROOT/etc/systemd/system/typo.service" &&
	! verify "$ROOT/etc/systemd/system/typo.service" &&
	grep -q "pve-quorom.target not found" verify.out
'

test_done
