/* A whole tree as a member receives it at the end of a sync: the
 * reassembled bytes as a "(ta(tttuuysay))" dump handed to memdb_replace.
 * (The chunk bookkeeping before it is internal to the replica's CPG
 * handler and not reachable from outside it.) A refused dump changes
 * nothing; an accepted one dumps again to a tree that a second store takes
 * as the same tree.
 *
 * The same input is also an incremental transfer: 32 bytes of expected
 * checksum, then a MEMDB_DIFF_TYPE diff handed to memdb_apply_diff on the
 * small tree. A refused diff changes nothing and is never a store failure
 * (EIO); an accepted one gives the checksum it promised. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

static memdb_t *a, *b;
static GVariant *empty;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	a = fuzz_memdb("a.db");
	b = fuzz_memdb("b.db");
	empty = g_variant_ref_sink(memdb_dump(a));
	return 0;
}

static void try_diff(const uint8_t *data, size_t size)
{
	uint8_t before[32], after[32];
	GError *err = NULL;

	if (size < 32)
		return;
	g_autoptr(GVariant) diff = fuzz_variant(MEMDB_DIFF_TYPE, data + 32, size - 32);
	uint64_t version = memdb_version(a);
	memdb_checksum(a, before);
	if (!memdb_apply_diff(a, diff, data, &err)) {
		if (!err || err->code == EIO)
			abort();
		g_error_free(err);
		memdb_checksum(a, after);
		if (memcmp(before, after, sizeof(before)) != 0 || memdb_version(a) != version)
			abort();
		return;
	}
	memdb_checksum(a, after);
	if (memcmp(after, data, sizeof(after)) != 0)
		abort();
	if (!memdb_replace(a, empty, NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GVariant) dump = fuzz_variant("(ta(tttuuysay))", data, size);
	g_autoptr(GVariant) again = NULL;
	uint8_t before[32], after[32], other[32];
	GError *err = NULL;

	try_diff(data, size);
	memdb_checksum(a, before);
	if (!memdb_replace(a, dump, &err)) {
		if (!err)
			abort();
		g_error_free(err);
		memdb_checksum(a, after);
		if (memcmp(before, after, sizeof(before)) != 0)
			abort();
		return 0;
	}
	memdb_checksum(a, after);
	again = g_variant_ref_sink(memdb_dump(a));
	if (!memdb_replace(b, again, NULL))
		abort();
	memdb_checksum(b, other);
	if (memcmp(after, other, sizeof(after)) != 0 || memdb_version(a) != memdb_version(b))
		abort();
	/* Start the next input from the same small tree. */
	if (!memdb_replace(a, empty, NULL))
		abort();
	return 0;
}
