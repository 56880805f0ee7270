/* What the libFuzzer harnesses share: a scratch tree in a directory of its
 * own, removed at exit, and quiet logs (a refused input is the normal case,
 * not news). */
#ifndef PVECM_FUZZ_H
#define PVECM_FUZZ_H

#include "log.h"
#include "memdb.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char *fuzz_dir;

static inline void fuzz_remove_dir(void)
{
	g_autoptr(GDir) d = fuzz_dir ? g_dir_open(fuzz_dir, 0, NULL) : NULL;
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(fuzz_dir, name, NULL);
		g_unlink(p);
	}
	if (fuzz_dir)
		g_rmdir(fuzz_dir);
}

static inline void fuzz_quiet(void)
{
	log_init("fuzz", false, false);
}

/* A tree on a store in a private directory (tmpfs when there is one:
 * every op is a SQLite transaction). */
static inline memdb_t *fuzz_memdb(const char *name)
{
	g_autofree char *path = NULL;
	GError *err = NULL;
	memdb_t *m;

	if (!fuzz_dir) {
		const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : NULL;
		g_autofree char *tmpl =
		    g_build_filename(base ? base : g_get_tmp_dir(), "pvecm-fuzz-XXXXXX", NULL);
		fuzz_dir = g_mkdtemp(g_steal_pointer(&tmpl));
		if (!fuzz_dir)
			abort();
		atexit(fuzz_remove_dir);
	}
	path = g_build_filename(fuzz_dir, name, NULL);
	m = memdb_open(path, &err);
	if (!m)
		g_error("fuzz: cannot open a tree at %s: %s", path, err->message);
	return m;
}

/* An owned GVariant of type over a copy of size bytes, as a receiver makes
 * one from a message. */
static inline GVariant *fuzz_variant(const char *type, const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) b = g_bytes_new(data, size);

	return g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE(type), b, FALSE));
}

#endif
