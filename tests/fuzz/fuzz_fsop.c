/* Replicated mutations as every member applies them: each input is a list
 * of ops on the wire ("av", each a FSOP_VARIANT_TYPE), decoded with
 * fsop_from_variant and applied with fsop_apply to a small tree, the way a
 * member applies another member's ops in delivery order. Two trees given
 * the same ops end the same, and the result is a tree that a member can
 * take over whole. */
#include "fsop.h"
#include "fuzz.h"

#include <string.h>

static memdb_t *a, *b, *c;
static GVariant *base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memdb_attr_t d, f;

	fuzz_quiet();
	a = fuzz_memdb("a.db");
	b = fuzz_memdb("b.db");
	c = fuzz_memdb("c.db");
	if (memdb_ensure_layout(a, "n1", 1, 1000) != 0 ||
	    memdb_mkdir(a, MEMDB_ROOT_INODE, "dir", 1, 1001, &d) != 0 ||
	    memdb_create(a, d.inode, "conf", 1, 1002, &f) != 0 ||
	    memdb_write(a, f.inode, 0, "hello\n", 6, 1, 1003) != 6)
		abort();
	base = g_variant_ref_sink(memdb_dump(a));
	return 0;
}

static void apply_all(memdb_t *m, GVariant *ops, int *results, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_autoptr(GVariant) boxed = g_variant_get_child_value(ops, i);
		g_autoptr(GVariant) v = g_variant_get_variant(boxed);
		fsop_t op;

		results[i] = 1;
		if (!g_variant_is_of_type(v, G_VARIANT_TYPE(FSOP_VARIANT_TYPE)) ||
		    !fsop_from_variant(v, &op))
			continue;
		results[i] = fsop_apply(m, &op, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GVariant) ops = fuzz_variant("av", data, size);
	size_t n = g_variant_n_children(ops);
	g_autofree int *ra = NULL, *rb = NULL;
	g_autoptr(GVariant) dump = NULL;
	uint8_t sa[32], sb[32], sc[32];

	if (n > 64)
		return 0;
	if (!memdb_replace(a, base, NULL) || !memdb_replace(b, base, NULL))
		abort();
	ra = g_new(int, n);
	rb = g_new(int, n);
	apply_all(a, ops, ra, n);
	apply_all(b, ops, rb, n);
	if (n && memcmp(ra, rb, n * sizeof(int)) != 0)
		abort();
	memdb_checksum(a, sa);
	memdb_checksum(b, sb);
	if (memcmp(sa, sb, sizeof(sa)) != 0)
		abort();
	dump = g_variant_ref_sink(memdb_dump(a));
	if (!memdb_replace(c, dump, NULL))
		abort();
	memdb_checksum(c, sc);
	if (memcmp(sa, sc, sizeof(sa)) != 0)
		abort();
	return 0;
}
