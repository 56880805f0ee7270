/* Unit tests for pvecm updatecerts, run on a temporary directory that
 * stands for /etc/pve, /etc/ssh and /root/.ssh: the CA is made once and
 * never replaced; the node certificate verifies against it, names the
 * node and its addresses, is kept while it is good and replaced when it is
 * not; known_hosts and authorized_keys are merged without losing other
 * nodes' lines, without stale keys of this node and without duplicates. */
#include "pvecm_certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <libssh/libssh.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE "n1"
#define NODE_IP "10.1.0.1"
#define OTHER_IP "10.1.0.7"

/* Two CAs made once for the whole run: a 4096-bit key takes a second or
 * two, and only the test of the CA itself needs a fresh one. */
static char *shared_ca[2];

typedef struct {
	char *dir;
	pvecm_certs_node_t node;
} fx_t;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_of(fx_t *fx, const char *rel)
{
	return g_build_filename(fx->dir, rel, NULL);
}

static char *slurp(const char *path)
{
	char *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

static void put(const char *path, const char *text)
{
	g_autofree char *dir = g_path_get_dirname(path);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	g_assert_cmpint(lstat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

/* A host key pair's public half, "TYPE BASE64 comment", in ssh_dir. */
static void make_host_key(const char *ssh_dir, const char *file, enum ssh_keytypes_e type,
			  int param)
{
	ssh_key key = NULL;
	char *b64 = NULL;

	g_assert_cmpint(ssh_pki_generate(type, param, &key), ==, SSH_OK);
	g_assert_cmpint(ssh_pki_export_pubkey_base64(key, &b64), ==, SSH_OK);
	g_autofree char *path = g_build_filename(ssh_dir, file, NULL);
	g_autofree char *line =
	    g_strdup_printf("%s %s root@" NODE "\n", ssh_key_type_to_char(type), b64);
	put(path, line);
	ssh_string_free_char(b64);
	ssh_key_free(key);
}

static void make_host_keys(fx_t *fx)
{
	make_host_key(fx->node.ssh_dir, "ssh_host_ed25519_key.pub", SSH_KEYTYPE_ED25519, 0);
	make_host_key(fx->node.ssh_dir, "ssh_host_ecdsa_key.pub", SSH_KEYTYPE_ECDSA_P256, 256);
}

/* "TYPE BASE64" of a host key file. */
static char *host_key(fx_t *fx, const char *file)
{
	g_autofree char *path = g_build_filename(fx->node.ssh_dir, file, NULL);
	g_autofree char *text = slurp(path);
	g_auto(GStrv) f = g_strsplit(g_strstrip(text), " ", 3);

	return g_strdup_printf("%s %s", f[0], f[1]);
}

static void node_init(pvecm_certs_node_t *node, const char *dir)
{
	*node = (pvecm_certs_node_t){0};
	node->pve_dir = g_build_filename(dir, "pve", NULL);
	node->ssh_dir = g_build_filename(dir, "ssh", NULL);
	node->root_ssh_dir = g_build_filename(dir, "root-ssh", NULL);
	node->nodename = g_strdup(NODE);
	node->addrs = g_strsplit(NODE_IP, " ", -1);
	g_assert_cmpint(g_mkdir_with_parents(node->pve_dir, 0755), ==, 0);
	g_assert_cmpint(g_mkdir_with_parents(node->ssh_dir, 0755), ==, 0);
}

static void copy_file(const char *from, const char *to)
{
	g_autofree char *text = slurp(from);

	put(to, text);
}

/* Puts CA number i of the run into the fixture's pve dir. */
static void install_ca(fx_t *fx, int i)
{
	static const char *const files[] = {"pve-root-ca.pem", "priv/pve-root-ca.key"};

	for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
		g_autofree char *from = g_build_filename(shared_ca[i], "pve", files[f], NULL);
		g_autofree char *to = g_build_filename(fx->node.pve_dir, files[f], NULL);
		copy_file(from, to);
	}
}

static void fx_setup(fx_t *fx, gconstpointer data)
{
	fx->dir = g_dir_make_tmp("test-certs-XXXXXX", NULL);
	g_assert_nonnull(fx->dir);
	node_init(&fx->node, fx->dir);
	make_host_keys(fx);
	if (data)
		install_ca(fx, 0);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	pvecm_certs_node_clear(&fx->node);
	rm_rf(fx->dir);
	g_free(fx->dir);
}

static void set_addrs(fx_t *fx, const char *addrs)
{
	g_strfreev(fx->node.addrs);
	fx->node.addrs = g_strsplit(addrs, " ", -1);
}

/* Certificates */

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *cert;

	g_assert_nonnull(f);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	g_assert_nonnull(cert);
	return cert;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key;

	g_assert_nonnull(f);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	g_assert_nonnull(key);
	return key;
}

static bool cert_verifies(const char *cert_path, const char *ca_path)
{
	X509 *cert = read_cert(cert_path), *ca = read_cert(ca_path);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok;

	g_assert_cmpint(X509_STORE_add_cert(store, ca), ==, 1);
	g_assert_cmpint(X509_STORE_CTX_init(ctx, store, cert, NULL), ==, 1);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(cert);
	ERR_clear_error();
	return ok;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The subject alternative names as "DNS:x" and "IP:x", sorted, joined by
 * ", ". */
static char *cert_sans(const char *path)
{
	X509 *cert = read_cert(path);
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	char buf[INET6_ADDRSTRLEN];

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			g_ptr_array_add(
			    names, g_strdup_printf("DNS:%s", ASN1_STRING_get0_data(g->d.dNSName)));
		else if (g->type == GEN_IPADD)
			g_ptr_array_add(
			    names, g_strdup_printf("IP:%s",
						   inet_ntop(ASN1_STRING_length(g->d.iPAddress) == 4
								 ? AF_INET
								 : AF_INET6,
							     ASN1_STRING_get0_data(g->d.iPAddress),
							     buf, sizeof(buf))));
	}
	GENERAL_NAMES_free(gens);
	X509_free(cert);
	g_ptr_array_sort(names, cmp_str);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(", ", (char **)names->pdata);
}

static bool ensure_cert(fx_t *fx, bool force, const char **reason)
{
	g_autoptr(GError) err = NULL;
	bool created = false;

	g_assert_true(pvecm_certs_ensure_node_cert(&fx->node, force, &created, reason, &err));
	g_assert_no_error(err);
	return created;
}

static void test_ca_created_once(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *cert_path = path_of(fx, "pve/pve-root-ca.pem");
	g_autofree char *key_path = path_of(fx, "pve/priv/pve-root-ca.key");
	bool created = false;

	g_assert_true(pvecm_certs_ensure_ca(&fx->node, &created, &err));
	g_assert_no_error(err);
	g_assert_true(created);
	g_assert_cmpuint(mode_of(cert_path), ==, 0640);
	g_assert_cmpuint(mode_of(key_path), ==, 0600);

	X509 *ca = read_cert(cert_path);
	EVP_PKEY *key = read_key(key_path);
	char subject[256];
	X509_NAME_oneline(X509_get_subject_name(ca), subject, sizeof(subject));
	g_assert_nonnull(strstr(subject, "/CN=Proxmox Virtual Environment"));
	g_assert_nonnull(strstr(subject, "/O=PVE Cluster Manager CA"));
	g_assert_cmpint(X509_check_ca(ca), >=, 1);
	g_assert_cmpint(X509_check_private_key(ca, key), ==, 1);
	g_assert_cmpint(X509_get_extension_flags(ca) & EXFLAG_CA, !=, 0);
	g_assert_cmpint(X509_get_key_usage(ca), ==, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	g_assert_nonnull(X509_get0_subject_key_id(ca));
	/* ten years, give or take a day */
	int days = 0, secs = 0;
	g_assert_cmpint(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca), X509_get0_notAfter(ca)), ==, 1);
	g_assert_cmpint(days, ==, PVECM_CERTS_CA_DAYS);
	g_assert_true(cert_verifies(cert_path, cert_path));
	EVP_PKEY_free(key);
	X509_free(ca);

	g_autofree char *pem = slurp(cert_path), *pkey = slurp(key_path);
	g_assert_true(pvecm_certs_ensure_ca(&fx->node, &created, &err));
	g_assert_false(created);
	g_autofree char *pem2 = slurp(cert_path), *pkey2 = slurp(key_path);
	g_assert_cmpstr(pem, ==, pem2);
	g_assert_cmpstr(pkey, ==, pkey2);

	/* not even a forced update of the node replaces it */
	g_assert_true(pvecm_certs_update_node(&fx->node, true, &err));
	g_assert_no_error(err);
	g_autofree char *pem3 = slurp(cert_path), *pkey3 = slurp(key_path);
	g_assert_cmpstr(pem, ==, pem3);
	g_assert_cmpstr(pkey, ==, pkey3);
}

static void assert_half_ca_refused(fx_t *fx, const char *present, const char *missing)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *have = path_of(fx, present);
	g_autofree char *lost = path_of(fx, missing);
	bool created = true;

	g_assert_cmpint(g_unlink(lost), ==, 0);
	g_autofree char *before = slurp(have);
	g_assert_false(pvecm_certs_ensure_ca(&fx->node, &created, &err));
	g_assert_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, lost));
	g_assert_null(strchr(err->message, '\n'));
	g_assert_false(created);
	g_assert_false(g_file_test(lost, G_FILE_TEST_EXISTS));
	g_autofree char *after = slurp(have);
	g_assert_cmpstr(before, ==, after);
}

static void test_ca_half_refused(fx_t *fx, gconstpointer data)
{
	assert_half_ca_refused(fx, "pve/pve-root-ca.pem", "pve/priv/pve-root-ca.key");
	install_ca(fx, 0);
	assert_half_ca_refused(fx, "pve/priv/pve-root-ca.key", "pve/pve-root-ca.pem");
}

static void test_ca_key_mismatch_refused(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *other = g_build_filename(shared_ca[1], "pve/priv/pve-root-ca.key", NULL);
	g_autofree char *key = path_of(fx, "pve/priv/pve-root-ca.key");
	bool created;

	copy_file(other, key);
	g_assert_false(pvecm_certs_ensure_node_cert(&fx->node, false, &created, NULL, &err));
	g_assert_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "does not belong"));
	g_autofree char *cert = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	g_assert_false(g_file_test(cert, G_FILE_TEST_EXISTS));
}

static void test_node_cert(fx_t *fx, gconstpointer data)
{
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	g_autofree char *key_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.key");
	g_autofree char *ca_path = path_of(fx, "pve/pve-root-ca.pem");
	const char *reason = NULL;

	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "none yet");
	g_assert_cmpuint(mode_of(cert_path), ==, 0640);
	g_assert_cmpuint(mode_of(key_path), ==, 0640);
	g_assert_true(cert_verifies(cert_path, ca_path));
	g_autofree char *sans = cert_sans(cert_path);
	g_assert_cmpstr(sans, ==, "DNS:localhost, DNS:n1, IP:10.1.0.1, IP:127.0.0.1");

	X509 *cert = read_cert(cert_path);
	EVP_PKEY *key = read_key(key_path);
	char subject[256];
	X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	g_assert_cmpstr(subject, ==, "/CN=n1/O=PVE Cluster Node");
	g_assert_cmpint(X509_check_private_key(cert, key), ==, 1);
	g_assert_cmpint(EVP_PKEY_get_bits(key), ==, PVECM_CERTS_NODE_BITS);
	g_assert_cmpint(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), ==, 1);
	g_assert_cmpint(X509_check_ca(cert), ==, 0);
	g_assert_cmpint(X509_get_signature_nid(cert), ==, NID_sha256WithRSAEncryption);
	g_assert_cmpint(X509_get_key_usage(cert), ==, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	g_assert_cmpint(X509_get_extended_key_usage(cert), ==, XKU_SSL_SERVER);
	int days = 0, secs = 0;
	g_assert_cmpint(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), ==,
	    1);
	g_assert_cmpint(days, ==, PVECM_CERTS_NODE_DAYS);
	EVP_PKEY_free(key);
	X509_free(cert);

	/* the serial file counts the certificates signed */
	g_autofree char *srl = path_of(fx, "pve/priv/pve-root-ca.srl");
	g_assert_cmpuint(mode_of(srl), ==, 0600);
	g_autofree char *serial1 = slurp(srl);
	g_assert_true(ensure_cert(fx, true, NULL));
	g_autofree char *serial2 = slurp(srl);
	g_assert_cmpstr(serial1, !=, serial2);
	g_assert_cmpuint(g_ascii_strtoull(serial2, NULL, 16), ==,
			 g_ascii_strtoull(serial1, NULL, 16) + 1);
}

static void test_node_cert_fqdn_and_ipv6(fx_t *fx, gconstpointer data)
{
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");

	fx->node.fqdn = g_strdup("n1.example.org");
	set_addrs(fx, "10.1.0.1 fd00:0:0::1 10.1.0.1");
	g_assert_true(ensure_cert(fx, false, NULL));
	g_autofree char *sans = cert_sans(cert_path);
	g_assert_cmpstr(sans, ==,
			"DNS:localhost, DNS:n1, DNS:n1.example.org, IP:10.1.0.1, IP:127.0.0.1, "
			"IP:fd00::1");
	X509 *cert = read_cert(cert_path);
	char subject[256];
	X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	g_assert_cmpstr(subject, ==, "/CN=n1.example.org/O=PVE Cluster Node");
	X509_free(cert);
	/* the same addresses, spelt differently, are the same */
	set_addrs(fx, "fd00::0:1 10.1.0.1");
	g_assert_false(ensure_cert(fx, false, NULL));
}

static void test_node_cert_kept_and_replaced(fx_t *fx, gconstpointer data)
{
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	g_autofree char *key_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.key");
	g_autofree char *ca_path = path_of(fx, "pve/pve-root-ca.pem");
	const char *reason = NULL;

	g_assert_true(ensure_cert(fx, false, NULL));
	g_autofree char *first = slurp(cert_path), *first_key = slurp(key_path);

	g_assert_false(ensure_cert(fx, false, &reason));
	g_assert_null(reason);
	g_autofree char *kept = slurp(cert_path), *kept_key = slurp(key_path);
	g_assert_cmpstr(first, ==, kept);
	g_assert_cmpstr(first_key, ==, kept_key);

	g_assert_true(ensure_cert(fx, true, &reason));
	g_assert_cmpstr(reason, ==, "forced");
	g_autofree char *forced = slurp(cert_path), *forced_key = slurp(key_path);
	g_assert_cmpstr(first, !=, forced);
	g_assert_cmpstr(first_key, !=, forced_key);
	g_assert_true(cert_verifies(cert_path, ca_path));

	set_addrs(fx, NODE_IP " " OTHER_IP);
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "addresses changed");
	g_autofree char *sans = cert_sans(cert_path);
	g_assert_nonnull(strstr(sans, "IP:" OTHER_IP));

	/* an address gone is a change too */
	set_addrs(fx, OTHER_IP);
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "addresses changed");
	g_autofree char *sans2 = cert_sans(cert_path);
	g_assert_null(strstr(sans2, "IP:" NODE_IP));
	g_assert_false(ensure_cert(fx, false, NULL));

	fx->node.fqdn = g_strdup("n1.example.org");
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "names changed");
}

static void test_node_cert_other_ca(fx_t *fx, gconstpointer data)
{
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	g_autofree char *ca_path = path_of(fx, "pve/pve-root-ca.pem");
	const char *reason = NULL;

	g_assert_true(ensure_cert(fx, false, NULL));
	install_ca(fx, 1);
	g_assert_false(cert_verifies(cert_path, ca_path));
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "not valid for the cluster CA");
	g_assert_true(cert_verifies(cert_path, ca_path));
}

static void test_node_cert_broken_pair(fx_t *fx, gconstpointer data)
{
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	g_autofree char *key_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.key");
	const char *reason = NULL;

	g_assert_true(ensure_cert(fx, false, NULL));
	g_autofree char *key = slurp(key_path);
	g_assert_true(ensure_cert(fx, true, NULL));
	put(key_path, key); /* the old key beside the new certificate */
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "key does not match");

	put(cert_path, "garbage\n");
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "unreadable");

	g_assert_cmpint(g_unlink(key_path), ==, 0);
	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "none yet");
	g_assert_false(ensure_cert(fx, false, NULL));
}

/* A certificate that expires in days, signed like the node's own. */
static void test_node_cert_expiring(fx_t *fx, gconstpointer data)
{
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	g_autofree char *ca_key_path = path_of(fx, "pve/priv/pve-root-ca.key");
	const char *reason = NULL;

	g_assert_true(ensure_cert(fx, false, NULL));
	X509 *cert = read_cert(cert_path);
	EVP_PKEY *ca_key = read_key(ca_key_path);
	g_assert_nonnull(
	    X509_time_adj_ex(X509_getm_notAfter(cert), PVECM_CERTS_RENEW_DAYS - 1, 0, NULL));
	g_assert_cmpint(X509_sign(cert, ca_key, EVP_sha256()), >, 0);
	FILE *f = fopen(cert_path, "w");
	g_assert_nonnull(f);
	g_assert_cmpint(PEM_write_X509(f, cert), ==, 1);
	fclose(f);
	X509_free(cert);
	EVP_PKEY_free(ca_key);

	g_assert_true(ensure_cert(fx, false, &reason));
	g_assert_cmpstr(reason, ==, "expires within 30 days");
	g_assert_false(ensure_cert(fx, false, NULL));
}

static void test_write_failure_leaves_no_temp(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = path_of(fx, "pve/nodes/" NODE);
	g_autofree char *cert_path = path_of(fx, "pve/nodes/" NODE "/pve-ssl.pem");
	bool created;

	/* a directory where the certificate goes: the rename over it fails */
	g_assert_cmpint(g_mkdir_with_parents(cert_path, 0755), ==, 0);
	g_autofree char *inside = g_build_filename(cert_path, "x", NULL);
	put(inside, "x");
	g_assert_false(pvecm_certs_ensure_node_cert(&fx->node, false, &created, NULL, &err));
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, cert_path));
	g_assert_null(strchr(err->message, '\n'));
	g_assert_false(created);

	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;
	g_assert_nonnull(d);
	while ((name = g_dir_read_name(d)))
		g_assert_null(strstr(name, ".tmp."));
	g_dir_close(d);
}

/* SSH */

static char *known_hosts(fx_t *fx)
{
	g_autofree char *path = path_of(fx, "pve/priv/known_hosts");

	return slurp(path);
}

static void merge_known(fx_t *fx)
{
	g_autoptr(GError) err = NULL;

	g_assert_true(pvecm_certs_merge_known_hosts(&fx->node, &err));
	g_assert_no_error(err);
}

static bool has_line(const char *text, const char *line)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	return g_strv_contains((const char *const *)lines, line);
}

static unsigned count_lines_with(const char *text, const char *word)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	unsigned n = 0;

	for (char **l = lines; *l; l++) {
		g_auto(GStrv) f = g_strsplit_set(*l, " ,", -1);
		n += g_strv_contains((const char *const *)f, word);
	}
	return n;
}

/* "|1|salt|hmac" as ssh-keygen -H writes it for host. */
static char *hashed(const char *host)
{
	unsigned char salt[20], md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 7 + 3);
	g_assert_nonnull(HMAC(EVP_sha1(), salt, sizeof(salt), (const unsigned char *)host,
			      strlen(host), md, &len));
	g_autofree char *s = g_base64_encode(salt, sizeof(salt));
	g_autofree char *h = g_base64_encode(md, len);
	return g_strdup_printf("|1|%s|%s", s, h);
}

static void test_known_hosts_merge(fx_t *fx, gconstpointer data)
{
	g_autofree char *shared = path_of(fx, "pve/priv/known_hosts");
	g_autofree char *global = path_of(fx, "ssh/ssh_known_hosts");
	g_autofree char *ed = host_key(fx, "ssh_host_ed25519_key.pub");
	g_autofree char *ec = host_key(fx, "ssh_host_ecdsa_key.pub");
	g_autofree char *hash_n1 = hashed("n1"), *hash_ip = hashed(NODE_IP);
	g_autofree char *hash_n2 = hashed("n2");
	g_autofree char *old = g_strdup_printf("# cluster hosts\n"
					       "n2 ssh-ed25519 AAAAn2key\n"
					       "10.1.0.2 ssh-ed25519 AAAAn2key\n"
					       "N1 ssh-rsa AAAAstale1\n"
					       "10.1.0.1 ssh-rsa AAAAstale2\n"
					       "n1.example.org,n1 ssh-rsa AAAAstale3 old comment\n"
					       "%s ssh-rsa AAAAstale4\n"
					       "%s ssh-rsa AAAAstale5\n"
					       "%s ssh-ed25519 AAAAn2hashed\n"
					       "@cert-authority *.example.org ssh-rsa AAAAca\n"
					       "n2 ssh-ed25519 AAAAn2key\n",
					       hash_n1, hash_ip, hash_n2);

	put(shared, old);
	put(global, "n3 ssh-ed25519 AAAAn3key\nn1 ssh-rsa AAAAstale6\n");
	merge_known(fx);
	g_autofree char *got = known_hosts(fx);

	/* other hosts' lines are kept, once */
	g_assert_true(has_line(got, "# cluster hosts"));
	g_assert_true(has_line(got, "n2 ssh-ed25519 AAAAn2key"));
	g_assert_cmpuint(count_lines_with(got, "n2"), ==, 1);
	g_assert_true(has_line(got, "10.1.0.2 ssh-ed25519 AAAAn2key"));
	g_assert_true(has_line(got, "n1.example.org ssh-rsa AAAAstale3 old comment"));
	g_autofree char *n2_hashed = g_strdup_printf("%s ssh-ed25519 AAAAn2hashed", hash_n2);
	g_assert_true(has_line(got, n2_hashed));
	g_assert_true(has_line(got, "@cert-authority *.example.org ssh-rsa AAAAca"));
	g_assert_true(has_line(got, "n3 ssh-ed25519 AAAAn3key"));
	/* this node's stale keys are gone, its keys are there */
	g_assert_null(strstr(got, "stale1"));
	g_assert_null(strstr(got, "stale2"));
	g_assert_null(strstr(got, "stale4"));
	g_assert_null(strstr(got, "stale5"));
	g_assert_null(strstr(got, "stale6"));
	const char *keys[] = {ed, ec};
	const char *hosts[] = {"n1", NODE_IP};
	for (int k = 0; k < 2; k++)
		for (int h = 0; h < 2; h++) {
			g_autofree char *line = g_strdup_printf("%s %s", hosts[h], keys[k]);
			g_assert_true(has_line(got, line));
		}
	g_assert_cmpuint(count_lines_with(got, "n1"), ==, 2);
	g_assert_cmpuint(count_lines_with(got, NODE_IP), ==, 2);
	/* this node's lines are where its first old line was */
	g_assert_cmpint(strstr(got, "n1 ") - got, <, strstr(got, "@cert-authority") - got);

	g_assert_cmpuint(mode_of(shared), ==, 0600);
	g_autofree char *link = g_file_read_link(global, NULL);
	g_assert_cmpstr(link, ==, shared);

	/* a second run changes nothing */
	merge_known(fx);
	g_autofree char *again = known_hosts(fx);
	g_assert_cmpstr(got, ==, again);
}

/* --unmerge-known-hosts: the link becomes a marked copy of the cluster's
 * file; later runs neither merge it nor link it again, while this node's
 * own keys still reach the cluster's file. */
static void test_known_hosts_unmerge(fx_t *fx, gconstpointer data)
{
	g_autofree char *shared = path_of(fx, "pve/priv/known_hosts");
	g_autofree char *global = path_of(fx, "ssh/ssh_known_hosts");
	g_autofree char *ed = host_key(fx, "ssh_host_ed25519_key.pub");

	put(shared, "n2 ssh-ed25519 AAAAn2key\n");
	merge_known(fx);
	g_assert_true(g_file_test(global, G_FILE_TEST_IS_SYMLINK));
	g_autofree char *merged = known_hosts(fx);

	fx->node.unmerge_known_hosts = true;
	merge_known(fx);
	g_assert_false(g_file_test(global, G_FILE_TEST_IS_SYMLINK));
	g_autofree char *local = slurp(global);
	g_autofree char *want = g_strconcat(PVECM_CERTS_UNMERGED_MARK "\n", merged, NULL);
	g_assert_cmpstr(local, ==, want);
	g_assert_cmpuint(mode_of(global), ==, 0644);
	g_autofree char *after = known_hosts(fx);
	g_assert_cmpstr(after, ==, merged);

	/* a plain run later: the local file and its own lines stay local */
	fx->node.unmerge_known_hosts = false;
	g_autofree char *edited = g_strconcat(local, "n9 ssh-ed25519 AAAAlocalonly\n", NULL);
	put(global, edited);
	merge_known(fx);
	g_assert_false(g_file_test(global, G_FILE_TEST_IS_SYMLINK));
	g_autofree char *kept = slurp(global);
	g_assert_cmpstr(kept, ==, edited);
	g_autofree char *cluster = known_hosts(fx);
	g_assert_null(strstr(cluster, "AAAAlocalonly"));
	g_autofree char *own = g_strdup_printf("n1 %s", ed);
	g_assert_true(has_line(cluster, own));

	/* without the mark, a plain run merges and links again */
	put(global, "n9 ssh-ed25519 AAAAlocalonly\n");
	merge_known(fx);
	g_assert_true(g_file_test(global, G_FILE_TEST_IS_SYMLINK));
	g_autofree char *remerged = known_hosts(fx);
	g_assert_nonnull(strstr(remerged, "AAAAlocalonly"));
}

/* What delnode removes: the node's names and addresses (hashed too) from
 * known_hosts and its root key from authorized_keys; nothing else. */
static void test_forget_node(fx_t *fx, gconstpointer data)
{
	g_autofree char *known = path_of(fx, "pve/priv/known_hosts");
	g_autofree char *auth = path_of(fx, "pve/priv/authorized_keys");
	g_autofree char *hash_n3 = hashed("n3"), *hash_n2 = hashed("n2");
	g_autofree char *ktext = g_strdup_printf("# cluster\n"
						 "n2 ssh-ed25519 AAAAn2\n"
						 "n3 ssh-ed25519 AAAAn3\n"
						 "10.1.0.3 ssh-ed25519 AAAAn3\n"
						 "N3,n3.example.org,n2x ssh-rsa AAAAmixed\n"
						 "%s ssh-ed25519 AAAAn3hashed\n"
						 "%s ssh-ed25519 AAAAn2hashed\n"
						 "@cert-authority n3 ssh-rsa AAAAca\n",
						 hash_n3, hash_n2);
	const char *atext = "ssh-rsa AAAAk2 root@n2\n"
			    "ssh-rsa AAAAk3 root@n3\n"
			    "ssh-rsa AAAAk3b root@N3.example.org\n"
			    "ssh-rsa AAAAk33 root@n33\n"
			    "ssh-rsa AAAAadmin admin@n3\n"
			    "# root@n3\n";
	g_autoptr(GError) err = NULL;
	const char *addrs[] = {"10.1.0.3", NULL};

	put(known, ktext);
	put(auth, atext);
	g_assert_true(pvecm_certs_forget_node(fx->node.pve_dir, "n3", addrs, &err));
	g_assert_no_error(err);
	g_autofree char *k = slurp(known);
	g_autofree char *n2_hashed = g_strdup_printf("%s ssh-ed25519 AAAAn2hashed\n", hash_n2);
	g_autofree char *kwant =
	    g_strconcat("# cluster\n"
			"n2 ssh-ed25519 AAAAn2\n"
			"n3.example.org,n2x ssh-rsa AAAAmixed\n",
			n2_hashed, "@cert-authority n3 ssh-rsa AAAAca\n", NULL);
	g_assert_cmpstr(k, ==, kwant);
	g_autofree char *a = slurp(auth);
	g_assert_cmpstr(a, ==,
			"ssh-rsa AAAAk2 root@n2\n"
			"ssh-rsa AAAAk33 root@n33\n"
			"ssh-rsa AAAAadmin admin@n3\n"
			"# root@n3\n");
	g_assert_cmpuint(mode_of(known), ==, 0600);

	/* Nothing of the node left: nothing written, the files as they are. */
	struct stat before, after;
	g_assert_cmpint(stat(known, &before), ==, 0);
	g_assert_true(pvecm_certs_forget_node(fx->node.pve_dir, "n3", addrs, &err));
	g_assert_cmpint(stat(known, &after), ==, 0);
	g_assert_cmpuint(before.st_ino, ==, after.st_ino);
	/* Missing files are nothing to forget. */
	g_assert_cmpint(g_unlink(known), ==, 0);
	g_assert_cmpint(g_unlink(auth), ==, 0);
	g_assert_true(pvecm_certs_forget_node(fx->node.pve_dir, "n3", addrs, &err));
	g_assert_false(g_file_test(known, G_FILE_TEST_EXISTS));
}

static void test_known_hosts_new_host_key(fx_t *fx, gconstpointer data)
{
	g_autofree char *old_ed = host_key(fx, "ssh_host_ed25519_key.pub");

	merge_known(fx);
	g_autofree char *first = known_hosts(fx);
	g_assert_nonnull(strstr(first, old_ed));

	/* reinstalled: new host keys, one type fewer */
	g_autofree char *ec_path =
	    g_build_filename(fx->node.ssh_dir, "ssh_host_ecdsa_key.pub", NULL);
	g_assert_cmpint(g_unlink(ec_path), ==, 0);
	make_host_key(fx->node.ssh_dir, "ssh_host_ed25519_key.pub", SSH_KEYTYPE_ED25519, 0);
	g_autofree char *new_ed = host_key(fx, "ssh_host_ed25519_key.pub");
	g_assert_cmpstr(old_ed, !=, new_ed);
	merge_known(fx);
	g_autofree char *got = known_hosts(fx);
	g_assert_null(strstr(got, old_ed));
	g_assert_null(strstr(got, "ecdsa"));
	g_autofree char *line = g_strdup_printf("n1 %s\n" NODE_IP " %s\n", new_ed, new_ed);
	g_assert_cmpstr(got, ==, line);
}

static void test_known_hosts_no_host_key(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	const char *files[] = {"ssh_host_ed25519_key.pub", "ssh_host_ecdsa_key.pub"};

	for (int i = 0; i < 2; i++) {
		g_autofree char *p = g_build_filename(fx->node.ssh_dir, files[i], NULL);
		g_assert_cmpint(g_unlink(p), ==, 0);
	}
	g_assert_false(pvecm_certs_merge_known_hosts(&fx->node, &err));
	g_assert_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, "ssh-keygen -A"));
	g_clear_error(&err);

	g_autofree char *bad = g_build_filename(fx->node.ssh_dir, files[0], NULL);
	put(bad, "ssh-ed25519 !!notbase64!!\n");
	g_assert_false(pvecm_certs_merge_known_hosts(&fx->node, &err));
	g_assert_nonnull(strstr(err->message, bad));
	g_autofree char *shared = path_of(fx, "pve/priv/known_hosts");
	g_assert_false(g_file_test(shared, G_FILE_TEST_EXISTS));
}

static void test_root_key(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *priv = path_of(fx, "root-ssh/id_rsa");
	g_autofree char *pub = path_of(fx, "root-ssh/id_rsa.pub");
	g_autofree char *dir = path_of(fx, "root-ssh");
	bool created = false;

	g_assert_true(pvecm_certs_ensure_root_key(&fx->node, &created, &err));
	g_assert_no_error(err);
	g_assert_true(created);
	g_assert_cmpuint(mode_of(dir), ==, 0700);
	g_assert_cmpuint(mode_of(priv), ==, 0600);
	g_assert_cmpuint(mode_of(pub), ==, 0644);
	g_autofree char *text = slurp(pub);
	g_assert_true(g_str_has_prefix(text, "ssh-rsa "));
	g_assert_true(g_str_has_suffix(text, " root@n1\n"));

	ssh_key key = NULL;
	g_assert_cmpint(ssh_pki_import_privkey_file(priv, NULL, NULL, NULL, &key), ==, SSH_OK);
	g_assert_cmpint(ssh_key_type(key), ==, SSH_KEYTYPE_RSA);
	ssh_key_free(key);

	g_assert_true(pvecm_certs_ensure_root_key(&fx->node, &created, &err));
	g_assert_false(created);
	g_autofree char *same = slurp(pub);
	g_assert_cmpstr(text, ==, same);

	/* the public half is made again from the private one */
	g_assert_cmpint(g_unlink(pub), ==, 0);
	g_assert_true(pvecm_certs_ensure_root_key(&fx->node, &created, &err));
	g_assert_false(created);
	g_autofree char *again = slurp(pub);
	g_assert_cmpstr(text, ==, again);
}

static void test_authorized_keys_merge(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *shared = path_of(fx, "pve/priv/authorized_keys");
	g_autofree char *root_auth = path_of(fx, "root-ssh/authorized_keys");
	g_autofree char *pub = path_of(fx, "root-ssh/id_rsa.pub");
	bool created;

	g_assert_true(pvecm_certs_ensure_root_key(&fx->node, &created, &err));
	put(shared, "ssh-ed25519 AAAAother n2\nssh-ed25519 AAAAother n2\n# admins\n");
	put(root_auth, "ssh-ed25519 AAAAadmin admin@laptop\nssh-ed25519 AAAAother n2\n");

	g_assert_true(pvecm_certs_merge_authorized_keys(&fx->node, &err));
	g_assert_no_error(err);
	g_autofree char *own = slurp(pub);
	g_autofree char *want = g_strdup_printf("ssh-ed25519 AAAAother n2\n# admins\n"
						"ssh-ed25519 AAAAadmin admin@laptop\n%s",
						own);
	g_autofree char *got = slurp(shared);
	g_assert_cmpstr(got, ==, want);
	g_assert_cmpuint(mode_of(shared), ==, 0600);
	g_autofree char *link = g_file_read_link(root_auth, NULL);
	g_assert_cmpstr(link, ==, shared);

	/* idempotent: no line twice, nothing new */
	g_assert_true(pvecm_certs_merge_authorized_keys(&fx->node, &err));
	g_autofree char *again = slurp(shared);
	g_assert_cmpstr(got, ==, again);

	/* root's key under another comment counts as present */
	g_autofree char *own_other = g_strdup(own);
	*strrchr(own_other, ' ') = '\0';
	g_autofree char *other_comment = g_strdup_printf("%s renamed\n", own_other);
	put(shared, other_comment);
	g_assert_true(pvecm_certs_merge_authorized_keys(&fx->node, &err));
	g_autofree char *third = slurp(shared);
	g_assert_cmpstr(third, ==, other_comment);
}

static void test_update_node(fx_t *fx, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	const char *files[] = {
	    "pve/pve-root-ca.pem",	"pve/priv/pve-root-ca.key", "pve/priv/pve-root-ca.srl",
	    "pve/nodes/n1/pve-ssl.pem", "pve/nodes/n1/pve-ssl.key", "pve/priv/authorized_keys",
	    "pve/priv/known_hosts",	"root-ssh/id_rsa",	    "root-ssh/id_rsa.pub",
	    "root-ssh/authorized_keys", "ssh/ssh_known_hosts"};
	char *before[G_N_ELEMENTS(files)];

	g_assert_true(pvecm_certs_update_node(&fx->node, false, &err));
	g_assert_no_error(err);
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *p = path_of(fx, files[i]);
		before[i] = slurp(p);
	}
	g_autofree char *auth = path_of(fx, "pve/priv/authorized_keys");
	g_autofree char *text = slurp(auth);
	g_autofree char *pub = path_of(fx, "root-ssh/id_rsa.pub");
	g_autofree char *own = slurp(pub);
	g_assert_cmpstr(text, ==, own);

	g_assert_true(pvecm_certs_update_node(&fx->node, false, &err));
	g_assert_no_error(err);
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *p = path_of(fx, files[i]);
		g_autofree char *now = slurp(p);
		g_assert_cmpstr(before[i], ==, now);
		g_free(before[i]);
	}
}

static void make_shared_cas(void)
{
	for (int i = 0; i < 2; i++) {
		pvecm_certs_node_t node;
		g_autoptr(GError) err = NULL;
		bool created = false;

		shared_ca[i] = g_dir_make_tmp("test-certs-ca-XXXXXX", NULL);
		g_assert_nonnull(shared_ca[i]);
		node_init(&node, shared_ca[i]);
		g_assert_true(pvecm_certs_ensure_ca(&node, &created, &err));
		g_assert_no_error(err);
		g_assert_true(created);
		pvecm_certs_node_clear(&node);
	}
}

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	make_shared_cas();
#define ADD(name, ca, fn)                                                                          \
	g_test_add("/certs/" name, fx_t, (ca) ? "ca" : NULL, fx_setup, fn, fx_teardown)
	ADD("ca/created-once", false, test_ca_created_once);
	ADD("ca/half-refused", true, test_ca_half_refused);
	ADD("ca/key-mismatch-refused", true, test_ca_key_mismatch_refused);
	ADD("node/cert", true, test_node_cert);
	ADD("node/fqdn-and-ipv6", true, test_node_cert_fqdn_and_ipv6);
	ADD("node/kept-and-replaced", true, test_node_cert_kept_and_replaced);
	ADD("node/other-ca", true, test_node_cert_other_ca);
	ADD("node/broken-pair", true, test_node_cert_broken_pair);
	ADD("node/expiring", true, test_node_cert_expiring);
	ADD("node/write-failure", true, test_write_failure_leaves_no_temp);
	ADD("ssh/known-hosts-merge", false, test_known_hosts_merge);
	ADD("ssh/known-hosts-new-host-key", false, test_known_hosts_new_host_key);
	ADD("ssh/known-hosts-unmerge", false, test_known_hosts_unmerge);
	ADD("ssh/forget-node", false, test_forget_node);
	ADD("ssh/known-hosts-no-host-key", false, test_known_hosts_no_host_key);
	ADD("ssh/root-key", false, test_root_key);
	ADD("ssh/authorized-keys-merge", false, test_authorized_keys_merge);
	ADD("update-node", true, test_update_node);
#undef ADD
	rc = g_test_run();
	for (int i = 0; i < 2; i++) {
		rm_rf(shared_ca[i]);
		g_free(shared_ca[i]);
	}
	return rc;
}
