/* A whole tree as a member receives it at the end of a sync: the
 * reassembled bytes as a "(ta(tttuuysay))" dump handed to memdb_replace.
 * (The chunk bookkeeping before it is internal to the replica's CPG
 * handler and not reachable from outside it.) A refused dump changes
 * nothing; an accepted one dumps again to a tree that a second store takes
 * as the same tree. */
#include "fuzz.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GVariant) dump = fuzz_variant("(ta(tttuuysay))", data, size);
	g_autoptr(GVariant) again = NULL;
	uint8_t before[32], after[32], other[32];
	GError *err = NULL;

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
