/* Writes the seed corpora under tests/fuzz/corpus/: one valid encoding of
 * each thing a harness decodes. Run by hand after a format changes
 * (make fuzz-seeds); the output is checked in. */
#include "fsop.h"
#include "fuzz.h"
#include "proto.h"

#include <stdio.h>

static const char *outdir;

static void put(const char *harness, const char *name, const void *data, size_t len)
{
	g_autofree char *dir = g_build_filename(outdir, harness, NULL);
	g_autofree char *path = g_build_filename(dir, name, NULL);
	GError *err = NULL;

	g_mkdir_with_parents(dir, 0755);
	if (!g_file_set_contents(path, data, (gssize)len, &err))
		g_error("%s", err->message);
}

static void put_variant(const char *harness, const char *name, GVariant *v)
{
	g_autoptr(GVariant) owned = g_variant_ref_sink(v);

	put(harness, name, g_variant_get_data(owned), g_variant_get_size(owned));
}

static void put_frame(const char *name, uint16_t type, uint32_t flags, int32_t status,
		      GVariant *payload)
{
	g_autoptr(GBytes) f = proto_encode(type, flags, 42, status, payload, NULL);

	put("proto", name, g_bytes_get_data(f, NULL), g_bytes_get_size(f));
}

static void proto_seeds(void)
{
	GVariantBuilder b;

	put_frame("status-request", PROTO_CMD_STATUS, 0, 0, g_variant_new("()"));
	put_frame("set-debug-request", PROTO_CMD_SET_DEBUG, 0, 0, g_variant_new("(b)", TRUE));
	put_frame("error-reply", PROTO_CMD_STATUS, PROTO_FLAG_REPLY, -1, NULL);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "nodename", g_variant_new_string("node1"));
	g_variant_builder_add(&b, "{sv}", "mode", g_variant_new_string("cluster"));
	g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_uint32(4242));
	g_variant_builder_add(&b, "{sv}", "version", g_variant_new_uint64(17));
	g_variant_builder_add(&b, "{sv}", "quorate", g_variant_new_boolean(TRUE));
	put_frame("status-reply", PROTO_CMD_STATUS, PROTO_FLAG_REPLY, 0, g_variant_builder_end(&b));
}

static void conf_seeds(void)
{
	static const char conf[] =
	    "# a cluster\n"
	    "logging {\n  debug: off\n  to_syslog: yes\n}\n\n"
	    "nodelist {\n  node {\n    name: n1\n    nodeid: 1\n"
	    "    quorum_votes: 1\n    ring0_addr: 10.0.0.1\n  }\n"
	    "  node {\n    name: n2\n    nodeid: 2\n    quorum_votes: 1\n"
	    "    ring0_addr: 10.0.0.2\n    ring1_addr: 10.1.0.2\n  }\n}\n\n"
	    "quorum {\n  provider: corosync_votequorum\n}\n\n"
	    "totem {\n  cluster_name: test\n  config_version: 3\n"
	    "  interface {\n    linknumber: 0\n    knet_link_priority: 10\n  }\n"
	    "  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n"
	    "  version: 2\n}\n";

	put("corosync_conf", "cluster", conf, sizeof(conf) - 1);
	put("corosync_conf", "empty-section", "a {\n}\n", 6);
}

static void datacenter_seeds(void)
{
	static const char both[] = "# datacenter.cfg\nkeyboard: en-us\n\n"
				   "migration: secure,network=10.1.2.0/24\n";
	static const char typed[] = "migration: type=insecure,network=fd00:1:2::/64\n"
				    "console: html5\n";

	put("datacenter_conf", "secure-v4", both, sizeof(both) - 1);
	put("datacenter_conf", "insecure-v6", typed, sizeof(typed) - 1);
	put("datacenter_conf", "empty", "", 0);
}

static void tree_seeds(memdb_t *m)
{
	memdb_attr_t d, f;

	put_variant("tree", "empty", memdb_dump(m));
	memdb_ensure_layout(m, "n1", 1, 1000);
	memdb_mkdir(m, MEMDB_ROOT_INODE, "dir", 1, 1001, &d);
	memdb_create(m, d.inode, "conf", 1, 1002, &f);
	memdb_write(m, f.inode, 0, "hello\n", 6, 1, 1003);
	put_variant("tree", "layout", memdb_dump(m));
	/* A diff from the fresh tree (version 1) that the harness starts
	 * each input from, after its checksum, with a removal in it. */
	memdb_create(m, d.inode, "gone", 1, 1004, &f);
	memdb_unlink(m, d.inode, "gone", 1, 1005);
	g_autoptr(GVariant) diff = memdb_diff(m, 1);
	uint8_t sum[32];
	memdb_checksum(m, sum);
	g_autoptr(GByteArray) seed = g_byte_array_new();
	g_byte_array_append(seed, sum, sizeof(sum));
	g_byte_array_append(seed, g_variant_get_data(diff), (guint)g_variant_get_size(diff));
	put("tree", "diff-layout", seed->data, seed->len);
}

static GVariant *op(fsop_t o)
{
	return g_variant_new_variant(fsop_to_variant(&o));
}

static void fsop_seeds(memdb_t *m)
{
	memdb_attr_t d, f;
	GVariantBuilder b;

	memdb_lookup_path(m, "dir", &d);
	memdb_lookup_path(m, "dir/conf", &f);
	g_variant_builder_init(&b, G_VARIANT_TYPE("av"));
	g_variant_builder_add_value(
	    &b,
	    op((fsop_t){
		.kind = FSOP_CREATE, .parent = d.inode, .name = "new", .writer = 2, .time = 2000}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_WRITE,
						    .inode = f.inode,
						    .offset = 3,
						    .data = "xyz",
						    .len = 3,
						    .writer = 2,
						    .time = 2001}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_RENAME,
						    .parent = d.inode,
						    .name = "conf",
						    .newparent = MEMDB_ROOT_INODE,
						    .newname = "moved",
						    .writer = 2,
						    .time = 2002}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_MKDIR,
						    .parent = MEMDB_ROOT_INODE,
						    .name = "priv",
						    .writer = 2,
						    .time = 2003}));
	put_variant("fsop", "create-write-rename", g_variant_builder_end(&b));
	g_variant_builder_init(&b, G_VARIANT_TYPE("av"));
	g_variant_builder_add_value(
	    &b,
	    op((fsop_t){
		.kind = FSOP_TRUNCATE, .inode = f.inode, .size = 2, .writer = 3, .time = 3000}));
	g_variant_builder_add_value(
	    &b,
	    op((fsop_t){
		.kind = FSOP_SET_MTIME, .inode = f.inode, .mtime = 5, .writer = 3, .time = 3001}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_UNLINK,
						    .parent = d.inode,
						    .name = "conf",
						    .writer = 3,
						    .time = 3002}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_RMDIR,
						    .parent = MEMDB_ROOT_INODE,
						    .name = "dir",
						    .writer = 3,
						    .time = 3003}));
	g_variant_builder_add_value(
	    &b, op((fsop_t){.kind = FSOP_ENSURE_LAYOUT, .name = "n2", .writer = 3, .time = 3004}));
	put_variant("fsop", "truncate-unlink-rmdir", g_variant_builder_end(&b));

	/* A lock made by node 1, taken over by node 2 with the version it saw
	 * expire, then refused to node 1 (that version is stale) and released
	 * by node 2. A new inode is numbered by the version that makes it. */
	memdb_attr_t locks;
	uint64_t lock = memdb_version(m) + 1;
	memdb_lookup_path(m, "priv/lock", &locks);
	g_variant_builder_init(&b, G_VARIANT_TYPE("av"));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_MKDIR,
						    .parent = locks.inode,
						    .name = "vm-100",
						    .writer = 1,
						    .time = 4000}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_MKDIR,
						    .parent = locks.inode,
						    .name = "vm-100",
						    .writer = 2,
						    .time = 4001,
						    .lock_version = lock}));
	g_variant_builder_add_value(&b, op((fsop_t){.kind = FSOP_SET_MTIME,
						    .inode = lock,
						    .writer = 1,
						    .time = 4002,
						    .lock_version = lock}));
	g_variant_builder_add_value(
	    &b, op((fsop_t){.kind = FSOP_SET_MTIME, .inode = lock, .writer = 2, .time = 4003}));
	put_variant("fsop", "lock-takeover", g_variant_builder_end(&b));
}

static void name_seeds(void)
{
	put("names", "plain", "node1", 5);
	put("names", "dotted", "qemu-server.conf", 16);
	put("names", "dotdot", "..", 2);
}

int main(int argc, char **argv)
{
	memdb_t *m;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	fuzz_quiet();
	m = fuzz_memdb("seeds.db");
	proto_seeds();
	conf_seeds();
	datacenter_seeds();
	tree_seeds(m);
	fsop_seeds(m);
	name_seeds();
	memdb_free(m);
	return 0;
}
