#include "pvecm_certs.h"

#include "corosync_conf.h"
#include "fileio.h"
#include "nodeinfo.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <netdb.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* pmxcfsd serves files under priv/ as 0600 and the others as 0640, and
 * refuses any other mode. */
#define PVE_PRIV_MODE 0600
#define PVE_FILE_MODE 0640
#define PVE_PRIV_DIR_MODE 0700
#define PVE_DIR_MODE 0755
#define SSH_DIR_MODE 0700
#define SSH_PRIV_MODE 0600
#define SSH_PUB_MODE 0644

#define CA_CERT "pve-root-ca.pem"
#define CA_KEY "priv/pve-root-ca.key"
#define CA_SERIAL "priv/pve-root-ca.srl"
#define NODE_CERT "pve-ssl.pem"
#define NODE_KEY "pve-ssl.key"
#define AUTHORIZED_KEYS "priv/authorized_keys"
#define KNOWN_HOSTS "priv/known_hosts"
#define ROOT_KEY "id_rsa"
#define ROOT_PUB "id_rsa.pub"

#define SECONDS_PER_DAY (24L * 60 * 60)
/* OpenSSH's hashed known_hosts entries: "|1|base64(salt)|base64(HMAC-SHA1)". */
#define HASHED_HOST_MAGIC "|1|"
#define SHA1_LEN 20

typedef struct ssh_key_struct ssh_key_t;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free_all)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIGNUM, BN_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE_CTX, X509_STORE_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ssh_key_t, ssh_key_free)

/* The SSH host keys a node may have, in the order their lines are written. */
static const char *const host_key_files[] = {
    "ssh_host_ed25519_key.pub",
    "ssh_host_ecdsa_key.pub",
    "ssh_host_rsa_key.pub",
};

GQuark pvecm_certs_error_quark(void)
{
	return g_quark_from_static_string("pvecm-certs-error-quark");
}

const pvecm_cli_opt_t pvecm_updatecerts_opts[] = {
    {"force", PVECM_CLI_BOOLEAN, .description = "Force generation of new SSL certificate."},
    {"silent", PVECM_CLI_BOOLEAN,
     .description = "Ignore errors (i.e. when cluster has no quorum)."},
    {"unmerge-known-hosts", PVECM_CLI_BOOLEAN, .default_text = "0",
     .description = "Unmerge legacy SSH known hosts."},
    {.name = NULL},
};

void pvecm_certs_node_clear(pvecm_certs_node_t *node)
{
	g_clear_pointer(&node->pve_dir, g_free);
	g_clear_pointer(&node->ssh_dir, g_free);
	g_clear_pointer(&node->root_ssh_dir, g_free);
	g_clear_pointer(&node->nodename, g_free);
	g_clear_pointer(&node->fqdn, g_free);
	g_clear_pointer(&node->addrs, g_strfreev);
	node->out = NULL;
}

static void say(const pvecm_certs_node_t *node, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(const pvecm_certs_node_t *node, const char *fmt, ...)
{
	va_list ap;

	if (!node->out)
		return;
	va_start(ap, fmt);
	vfprintf(node->out, fmt, ap);
	va_end(ap);
	fputc('\n', node->out);
	fflush(node->out);
}

/* Errors */

static bool fail_errno(GError **err, int e, const char *what, const char *path)
{
	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s %s: %s", what, path,
		    g_strerror(e));
	return false;
}

/* The reason OpenSSL gave for the last failure; clears its error queue so
 * that an old error is never blamed for a later failure. */
static bool fail_ssl(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool fail_ssl(GError **err, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	g_autofree char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_CRYPTO, "%s: %s", what,
		    reason ? reason : "unknown OpenSSL error");
	ERR_clear_error();
	return false;
}

/* Files */

static char *pve_path(const pvecm_certs_node_t *node, const char *name)
{
	return g_build_filename(node->pve_dir, name, NULL);
}

static char *node_path(const pvecm_certs_node_t *node, const char *name)
{
	return g_build_filename(node->pve_dir, "nodes", node->nodename, name, NULL);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool ensure_dir(const char *path, mode_t mode, GError **err)
{
	if (g_mkdir_with_parents(path, mode) < 0)
		return fail_errno(err, errno, "cannot create directory", path);
	return true;
}

/* Reads path; a missing file is empty text with *missing set (if given),
 * any other failure an error. */
static bool read_text(const char *path, char **text, bool *missing, GError **err)
{
	g_autoptr(GError) e = NULL;

	if (missing)
		*missing = false;
	if (g_file_get_contents(path, text, NULL, &e))
		return true;
	if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		*text = g_strdup("");
		if (missing)
			*missing = true;
		return true;
	}
	g_propagate_error(err, g_steal_pointer(&e));
	return false;
}

/* Replaces path by a file holding data: a complete temporary file beside
 * it is renamed over it, so that readers, and the other nodes through
 * pmxcfsd, see the old file or the new one. With noreplace, fails with
 * EEXIST when path appeared meanwhile (another node got there first). */
static bool write_file(const char *path, const char *data, size_t len, mode_t mode, bool noreplace,
		       GError **err)
{
	g_autofree char *tmp =
	    g_strdup_printf("%s.tmp.%d.%08x", path, (int)getpid(), g_random_int());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	int e;

	if (fd < 0)
		return fail_errno(err, errno, "cannot create", tmp);
	/* FUSE file systems without fsync answer EINVAL or ENOSYS. */
	if (!fileio_write_all(fd, data, len) ||
	    (fsync(fd) < 0 && errno != EINVAL && errno != ENOSYS)) {
		e = errno;
		close(fd);
		unlink(tmp);
		return fail_errno(err, e, "cannot write", tmp);
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp);
		return fail_errno(err, e, "cannot write", tmp);
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, noreplace ? RENAME_NOREPLACE : 0) < 0) {
		e = errno;
		unlink(tmp);
		return fail_errno(err, e, "cannot replace", path);
	}
	return true;
}

static bool write_text(const char *path, const char *text, mode_t mode, GError **err)
{
	return write_file(path, text, strlen(text), mode, false, err);
}

/* Makes path a symbolic link to target, replacing whatever is there in one
 * rename; nothing changes when it is that link already. */
static bool ensure_symlink(const char *target, const char *path, GError **err)
{
	g_autofree char *now = g_file_read_link(path, NULL);
	g_autofree char *tmp = NULL;

	if (g_strcmp0(now, target) == 0)
		return true;
	tmp = g_strdup_printf("%s.tmp.%d.%08x", path, (int)getpid(), g_random_int());
	if (symlink(target, tmp) < 0)
		return fail_errno(err, errno, "cannot create link", tmp);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return fail_errno(err, e, "cannot replace", path);
	}
	return true;
}

/* The content of path unless it is a link to target, to be merged into
 * target before path becomes that link. */
static bool read_unless_link_to(const char *path, const char *target, char **text, GError **err)
{
	g_autofree char *now = g_file_read_link(path, NULL);

	if (g_strcmp0(now, target) == 0) {
		*text = g_strdup("");
		return true;
	}
	if (now && !g_file_test(path, G_FILE_TEST_EXISTS)) {
		*text = g_strdup(""); /* a dangling link holds nothing */
		return true;
	}
	return read_text(path, text, NULL, err);
}

/* PEM */

static X509 *load_cert(const char *path, GError **err)
{
	g_autoptr(BIO) bio = BIO_new_file(path, "r");
	X509 *cert;

	if (!bio) {
		fail_ssl(err, "cannot read %s", path);
		return NULL;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!cert)
		fail_ssl(err, "cannot read the certificate in %s", path);
	return cert;
}

static EVP_PKEY *load_key(const char *path, GError **err)
{
	g_autoptr(BIO) bio = BIO_new_file(path, "r");
	EVP_PKEY *key;

	if (!bio) {
		fail_ssl(err, "cannot read %s", path);
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!key)
		fail_ssl(err, "cannot read the private key in %s", path);
	return key;
}

static char *bio_text(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	return g_strndup(data, (gsize)len);
}

static bool save_cert(X509 *cert, const char *path, mode_t mode, bool noreplace, GError **err)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
	g_autofree char *pem = NULL;

	if (!bio || !PEM_write_bio_X509(bio, cert))
		return fail_ssl(err, "cannot encode the certificate for %s", path);
	pem = bio_text(bio);
	return write_file(path, pem, strlen(pem), mode, noreplace, err);
}

/* mode: the node's key is outside priv/, readable by the group of the
 * web services, as the reference serves it. */
static bool save_key(EVP_PKEY *key, const char *path, mode_t mode, bool noreplace, GError **err)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
	g_autofree char *pem = NULL;
	bool ok;

	if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		return fail_ssl(err, "cannot encode the private key for %s", path);
	pem = bio_text(bio);
	ok = write_file(path, pem, strlen(pem), mode, noreplace, err);
	OPENSSL_cleanse(pem, strlen(pem));
	return ok;
}

/* Certificates */

static EVP_PKEY *new_rsa_key(unsigned bits, const char *what, GError **err)
{
	EVP_PKEY *key = EVP_RSA_gen(bits);

	if (!key)
		fail_ssl(err, "cannot generate the %s", what);
	return key;
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value, GError **err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return fail_ssl(err, "cannot make the certificate extension %s = %s",
				OBJ_nid2sn(nid), value);
	ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? true : fail_ssl(err, "cannot add the extension %s", OBJ_nid2sn(nid));
}

static bool set_name(X509_NAME *name, const char *const *fields, GError **err)
{
	for (; fields[0]; fields += 2)
		if (!X509_NAME_add_entry_by_txt(name, fields[0], MBSTRING_UTF8,
						(const unsigned char *)fields[1], -1, -1, 0))
			return fail_ssl(err, "cannot set %s=%s in a certificate name", fields[0],
					fields[1]);
	return true;
}

/* A certificate for key valid from now for days, without extensions nor
 * issuer, with the given serial number. */
static X509 *new_cert(EVP_PKEY *key, const BIGNUM *serial, long days, GError **err)
{
	g_autoptr(X509) cert = X509_new();

	if (!cert || !X509_set_version(cert, X509_VERSION_3) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL) ||
	    !X509_set_pubkey(cert, key)) {
		fail_ssl(err, "cannot build a certificate");
		return NULL;
	}
	return g_steal_pointer(&cert);
}

static BIGNUM *random_serial(GError **err)
{
	g_autoptr(BIGNUM) bn = BN_new();

	/* 63 bits: positive and within the 8 bytes every client accepts. */
	if (!bn || !BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)) {
		fail_ssl(err, "cannot pick a certificate serial number");
		return NULL;
	}
	return g_steal_pointer(&bn);
}

/* The CA */

typedef struct {
	X509 *cert;
	EVP_PKEY *key;
} ca_t;

static void ca_clear(ca_t *ca)
{
	g_clear_pointer(&ca->cert, X509_free);
	g_clear_pointer(&ca->key, EVP_PKEY_free);
}

static X509 *build_ca_cert(EVP_PKEY *key, GError **err)
{
	g_autofree char *uuid = g_uuid_string_random();
	const char *subject[] = {"CN", "Proxmox Virtual Environment", "OU", uuid,
				 "O",  "PVE Cluster Manager CA",      NULL};
	g_autoptr(BIGNUM) serial = random_serial(err);
	g_autoptr(X509) cert = NULL;

	if (!serial)
		return NULL;
	cert = new_cert(key, serial, PVECM_CERTS_CA_DAYS, err);
	if (!cert || !set_name(X509_get_subject_name(cert), subject, err))
		return NULL;
	if (!X509_set_issuer_name(cert, X509_get_subject_name(cert))) {
		fail_ssl(err, "cannot set the CA's issuer");
		return NULL;
	}
	if (!add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE", err) ||
	    !add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign", err) ||
	    !add_ext(cert, cert, NID_subject_key_identifier, "hash", err))
		return NULL;
	if (!X509_sign(cert, key, EVP_sha256())) {
		fail_ssl(err, "cannot sign the CA certificate");
		return NULL;
	}
	return g_steal_pointer(&cert);
}

static bool create_ca(const char *cert_path, const char *key_path, bool *created, GError **err)
{
	g_autoptr(EVP_PKEY) key = new_rsa_key(PVECM_CERTS_CA_BITS, "cluster CA key", err);
	g_autoptr(X509) cert = NULL;
	g_autoptr(GError) e = NULL;

	if (!key)
		return false;
	cert = build_ca_cert(key, err);
	if (!cert)
		return false;
	/* The key goes in first and never over another: when two nodes race to
	 * create the CA, the one whose key lands writes the certificate and
	 * the other keeps what it finds. */
	if (!save_key(key, key_path, PVE_PRIV_MODE, true, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_EXIST))
			return true;
		g_propagate_error(err, g_steal_pointer(&e));
		return false;
	}
	if (!save_cert(cert, cert_path, PVE_FILE_MODE, true, err)) {
		g_prefix_error(err, "the cluster CA key %s was written, but: ", key_path);
		return false;
	}
	*created = true;
	return true;
}

bool pvecm_certs_ensure_ca(const pvecm_certs_node_t *node, bool *created, GError **err)
{
	g_autofree char *cert_path = pve_path(node, CA_CERT);
	g_autofree char *key_path = pve_path(node, CA_KEY);
	g_autofree char *priv = pve_path(node, "priv");
	bool have_cert = exists(cert_path), have_key = exists(key_path);

	*created = false;
	if (have_cert && have_key)
		return true;
	if (have_cert || have_key) {
		g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID,
			    "the cluster CA is incomplete: %s is missing - restore it from a "
			    "backup, or remove %s as well to create a new CA (then run 'pvecm "
			    "updatecerts' on every node)",
			    have_cert ? key_path : cert_path, have_cert ? cert_path : key_path);
		return false;
	}
	if (!ensure_dir(priv, PVE_PRIV_DIR_MODE, err))
		return false;
	return create_ca(cert_path, key_path, created, err);
}

static bool load_ca(const pvecm_certs_node_t *node, ca_t *ca, GError **err)
{
	g_autofree char *cert_path = pve_path(node, CA_CERT);
	g_autofree char *key_path = pve_path(node, CA_KEY);

	ca->cert = load_cert(cert_path, err);
	if (!ca->cert)
		return false;
	ca->key = load_key(key_path, err);
	if (!ca->key)
		return false;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ERR_clear_error();
		g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID,
			    "the cluster CA key %s does not belong to %s - restore the matching "
			    "pair from a backup",
			    key_path, cert_path);
		return false;
	}
	return true;
}

/* The next serial number of the CA, as openssl's -CAserial keeps it: the
 * last one used, in hexadecimal. A missing file starts at a random one. */
static BIGNUM *next_serial(const pvecm_certs_node_t *node, GError **err)
{
	g_autofree char *path = pve_path(node, CA_SERIAL);
	g_autofree char *text = NULL;
	g_autofree char *line = NULL;
	g_autoptr(BIGNUM) bn = NULL;
	char *hex;
	bool missing;

	if (!read_text(path, &text, &missing, err))
		return NULL;
	g_strstrip(text);
	if (missing || !*text || BN_hex2bn(&bn, text) != (int)strlen(text) || BN_is_negative(bn)) {
		g_clear_pointer(&bn, BN_free);
		bn = random_serial(err);
		if (!bn)
			return NULL;
	}
	if (!BN_add_word(bn, 1)) {
		fail_ssl(err, "cannot count serial numbers");
		return NULL;
	}
	hex = BN_bn2hex(bn);
	if (!hex) {
		fail_ssl(err, "cannot count serial numbers");
		return NULL;
	}
	line = g_strdup_printf("%s\n", hex);
	OPENSSL_free(hex);
	if (!write_text(path, line, PVE_PRIV_MODE, err))
		return NULL;
	return g_steal_pointer(&bn);
}

/* Node certificate */

/* An address as the certificate and known_hosts spell it: inet_ntop's
 * text of the 4 or 16 bytes. NULL if text is no IP address. */
static char *canonical_ip(const char *text)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char out[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, text, buf) == 1)
		return g_strdup(inet_ntop(AF_INET, buf, out, sizeof(out)));
	if (inet_pton(AF_INET6, text, buf) == 1)
		return g_strdup(inet_ntop(AF_INET6, buf, out, sizeof(out)));
	return NULL;
}

static char *octets_ip(const ASN1_OCTET_STRING *s)
{
	char out[INET6_ADDRSTRLEN];
	int len = ASN1_STRING_length(s);
	int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;

	if (!family)
		return NULL;
	return g_strdup(inet_ntop(family, ASN1_STRING_get0_data(s), out, sizeof(out)));
}

static const char *cert_cn(const pvecm_certs_node_t *node)
{
	return node->fqdn && *node->fqdn ? node->fqdn : node->nodename;
}

/* The names in a node certificate, as two sets: DNS names lowercased, IP
 * addresses canonical. */
typedef struct {
	GHashTable *dns, *ip;
} names_t;

static void names_init(names_t *n)
{
	n->dns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	n->ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void names_clear(names_t *n)
{
	g_clear_pointer(&n->dns, g_hash_table_unref);
	g_clear_pointer(&n->ip, g_hash_table_unref);
}

static bool wanted_names(const pvecm_certs_node_t *node, names_t *n, GError **err)
{
	names_init(n);
	g_hash_table_add(n->dns, g_ascii_strdown(node->nodename, -1));
	g_hash_table_add(n->dns, g_strdup("localhost"));
	g_hash_table_add(n->dns, g_ascii_strdown(cert_cn(node), -1));
	g_hash_table_add(n->ip, g_strdup("127.0.0.1"));
	for (char **a = node->addrs; a && *a; a++) {
		char *ip = canonical_ip(*a);
		if (!ip) {
			g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID,
				    "'%s' is not an IP address (node '%s')", *a, node->nodename);
			return false;
		}
		g_hash_table_add(n->ip, ip);
	}
	return true;
}

static void cert_names(X509 *cert, names_t *n)
{
	g_autoptr(GENERAL_NAMES) gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

	names_init(n);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			g_hash_table_add(
			    n->dns,
			    g_ascii_strdown((const char *)ASN1_STRING_get0_data(g->d.dNSName),
					    ASN1_STRING_length(g->d.dNSName)));
		else if (g->type == GEN_IPADD) {
			char *ip = octets_ip(g->d.iPAddress);
			if (ip)
				g_hash_table_add(n->ip, ip);
		}
	}
}

static bool subset(GHashTable *a, GHashTable *b)
{
	GHashTableIter it;
	gpointer k;

	g_hash_table_iter_init(&it, a);
	while (g_hash_table_iter_next(&it, &k, NULL))
		if (!g_hash_table_contains(b, k))
			return false;
	return true;
}

/* Takes value (an ASN1_IA5STRING for GEN_DNS, an ASN1_OCTET_STRING for
 * GEN_IPADD), even on failure. */
static bool push_name(GENERAL_NAMES *gens, int type, void *value)
{
	GENERAL_NAME *g = value ? GENERAL_NAME_new() : NULL;

	if (!g) {
		ASN1_STRING_free(value);
		return false;
	}
	GENERAL_NAME_set0_value(g, type, value);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return false;
	}
	return true;
}

static ASN1_IA5STRING *ia5(const char *text)
{
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (s && !ASN1_STRING_set(s, text, -1))
		g_clear_pointer(&s, ASN1_IA5STRING_free);
	return s;
}

/* Sorted, so that the same names make the same certificate extension. */
static GENERAL_NAMES *build_alt_names(const names_t *want, GError **err)
{
	g_autoptr(GENERAL_NAMES) gens = sk_GENERAL_NAME_new_null();
	g_autoptr(GList) dns = g_list_sort(g_hash_table_get_keys(want->dns), (GCompareFunc)strcmp);
	g_autoptr(GList) ips = g_list_sort(g_hash_table_get_keys(want->ip), (GCompareFunc)strcmp);
	bool ok = gens != NULL;

	for (GList *l = dns; ok && l; l = l->next)
		ok = push_name(gens, GEN_DNS, ia5(l->data));
	for (GList *l = ips; ok && l; l = l->next)
		ok = push_name(gens, GEN_IPADD, a2i_IPADDRESS(l->data));
	if (!ok) {
		fail_ssl(err, "cannot build the certificate's subject alternative names");
		return NULL;
	}
	return g_steal_pointer(&gens);
}

static X509 *build_node_cert(const pvecm_certs_node_t *node, EVP_PKEY *key, const ca_t *ca,
			     const names_t *want, GError **err)
{
	const char *subject[] = {"CN", cert_cn(node), "O", "PVE Cluster Node", NULL};
	g_autoptr(BIGNUM) serial = next_serial(node, err);
	g_autoptr(X509) cert = NULL;
	g_autoptr(GENERAL_NAMES) gens = NULL;

	if (!serial)
		return NULL;
	cert = new_cert(key, serial, PVECM_CERTS_NODE_DAYS, err);
	if (!cert || !set_name(X509_get_subject_name(cert), subject, err))
		return NULL;
	if (!X509_set_issuer_name(cert, X509_get_subject_name(ca->cert))) {
		fail_ssl(err, "cannot set the node certificate's issuer");
		return NULL;
	}
	gens = build_alt_names(want, err);
	if (!gens)
		return NULL;
	if (!add_ext(cert, ca->cert, NID_basic_constraints, "CA:FALSE", err) ||
	    !add_ext(cert, ca->cert, NID_key_usage, "digitalSignature,keyEncipherment", err) ||
	    !add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth", err) ||
	    !add_ext(cert, ca->cert, NID_subject_key_identifier, "hash", err) ||
	    !add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid,issuer", err))
		return NULL;
	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
		fail_ssl(err, "cannot add the subject alternative names");
		return NULL;
	}
	if (!X509_sign(cert, ca->key, EVP_sha256())) {
		fail_ssl(err, "cannot sign the node certificate");
		return NULL;
	}
	return g_steal_pointer(&cert);
}

static bool verifies(X509 *cert, X509 *ca)
{
	g_autoptr(X509_STORE) store = X509_STORE_new();
	g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
	bool ok = store && ctx && X509_STORE_add_cert(store, ca) == 1 &&
		  X509_STORE_CTX_init(ctx, store, cert, NULL) == 1 && X509_verify_cert(ctx) == 1;

	ERR_clear_error();
	return ok;
}

/* Why the node's certificate must be replaced, or NULL when it is good. */
static const char *node_cert_problem(const pvecm_certs_node_t *node, const ca_t *ca,
				     const names_t *want)
{
	g_autofree char *cert_path = node_path(node, NODE_CERT);
	g_autofree char *key_path = node_path(node, NODE_KEY);
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	names_t have;
	const char *problem = NULL;
	time_t renew = time(NULL) + PVECM_CERTS_RENEW_DAYS * SECONDS_PER_DAY;

	if (!exists(cert_path) || !exists(key_path))
		return "none yet";
	cert = load_cert(cert_path, NULL);
	key = load_key(key_path, NULL);
	ERR_clear_error();
	if (!cert || !key)
		return "unreadable";
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		return "key does not match";
	}
	if (!verifies(cert, ca->cert))
		return "not valid for the cluster CA";
	if (X509_cmp_time(X509_get0_notAfter(cert), &renew) <= 0)
		return "expires within " G_STRINGIFY(PVECM_CERTS_RENEW_DAYS) " days";
	cert_names(cert, &have);
	if (!subset(want->ip, have.ip) || !subset(have.ip, want->ip))
		problem = "addresses changed";
	else if (!subset(want->dns, have.dns))
		problem = "names changed";
	names_clear(&have);
	return problem;
}

bool pvecm_certs_ensure_node_cert(const pvecm_certs_node_t *node, bool force, bool *created,
				  const char **reason, GError **err)
{
	g_autofree char *dir = node_path(node, NULL);
	g_autofree char *cert_path = node_path(node, NODE_CERT);
	g_autofree char *key_path = node_path(node, NODE_KEY);
	g_autoptr(EVP_PKEY) key = NULL;
	g_autoptr(X509) cert = NULL;
	ca_t ca = {0};
	names_t want = {0};
	const char *why;
	bool ok = false;

	*created = false;
	if (!load_ca(node, &ca, err) || !wanted_names(node, &want, err))
		goto out;
	why = force ? "forced" : node_cert_problem(node, &ca, &want);
	if (reason)
		*reason = why;
	if (!why) {
		ok = true;
		goto out;
	}
	if (!ensure_dir(dir, PVE_DIR_MODE, err))
		goto out;
	key = new_rsa_key(PVECM_CERTS_NODE_BITS, "node key", err);
	if (!key)
		goto out;
	cert = build_node_cert(node, key, &ca, &want, err);
	if (!cert)
		goto out;
	/* The key first: a certificate never names a key that is not there;
	 * if the second step fails, the next run sees the mismatch. */
	if (!save_key(key, key_path, PVE_FILE_MODE, false, err) ||
	    !save_cert(cert, cert_path, PVE_FILE_MODE, false, err))
		goto out;
	*created = true;
	ok = true;
out:
	ca_clear(&ca);
	names_clear(&want);
	return ok;
}

/* SSH */

static bool fail_ssh(GError **err, const char *what, const char *path)
{
	g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_CRYPTO, "%s %s: libssh failed", what,
		    path);
	return false;
}

static bool write_pubkey(const pvecm_certs_node_t *node, ssh_key key, const char *path,
			 GError **err)
{
	g_autofree char *b64 = NULL;
	g_autofree char *line = NULL;
	char *out = NULL;

	if (ssh_pki_export_pubkey_base64(key, &out) != SSH_OK)
		return fail_ssh(err, "cannot encode the public key for", path);
	b64 = g_strdup(out);
	ssh_string_free_char(out);
	line = g_strdup_printf("%s %s root@%s\n", ssh_key_type_to_char(ssh_key_type(key)), b64,
			       node->nodename);
	return write_text(path, line, SSH_PUB_MODE, err);
}

bool pvecm_certs_ensure_root_key(const pvecm_certs_node_t *node, bool *created, GError **err)
{
	g_autofree char *priv_path = g_build_filename(node->root_ssh_dir, ROOT_KEY, NULL);
	g_autofree char *pub_path = g_build_filename(node->root_ssh_dir, ROOT_PUB, NULL);
	g_autoptr(ssh_key_t) key = NULL;
	char *pem = NULL;
	bool ok;

	*created = false;
	if (!ensure_dir(node->root_ssh_dir, SSH_DIR_MODE, err))
		return false;
	if (exists(priv_path)) {
		if (exists(pub_path))
			return true;
		if (ssh_pki_import_privkey_file(priv_path, NULL, NULL, NULL, &key) != SSH_OK)
			return fail_ssh(err, "cannot read the private key", priv_path);
		return write_pubkey(node, key, pub_path, err);
	}
	if (ssh_pki_generate(SSH_KEYTYPE_RSA, PVECM_CERTS_SSH_BITS, &key) != SSH_OK)
		return fail_ssh(err, "cannot generate a key for", priv_path);
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &pem) != SSH_OK)
		return fail_ssh(err, "cannot encode the private key for", priv_path);
	ok = write_text(priv_path, pem, SSH_PRIV_MODE, err);
	OPENSSL_cleanse(pem, strlen(pem));
	ssh_string_free_char(pem);
	if (!ok || !write_pubkey(node, key, pub_path, err))
		return false;
	*created = true;
	return true;
}

/* Lines of text without line ends or surrounding blanks, blank ones left
 * out, each once: appended to lines unless seen. */
static void add_lines(GPtrArray *lines, GHashTable *seen, const char *text)
{
	g_auto(GStrv) split = g_strsplit(text, "\n", -1);

	for (char **l = split; *l; l++) {
		char *line = g_strstrip(*l);
		if (!*line || g_hash_table_contains(seen, line))
			continue;
		g_hash_table_add(seen, g_strdup(line));
		g_ptr_array_add(lines, g_strdup(line));
	}
}

static char *join_lines(GPtrArray *lines)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < lines->len; i++)
		g_string_append_printf(s, "%s\n", (const char *)lines->pdata[i]);
	return g_string_free(s, FALSE);
}

/* The fields of a line, split at runs of blanks. */
static GStrv fields_of(const char *line)
{
	g_auto(GStrv) all = g_strsplit_set(line, " \t\r\n", -1);
	GPtrArray *fields = g_ptr_array_new();

	for (char **f = all; *f; f++)
		if (**f)
			g_ptr_array_add(fields, g_strdup(*f));
	g_ptr_array_add(fields, NULL);
	return (GStrv)g_ptr_array_free(fields, FALSE);
}

/* Whether a key line holds the key blob b64 (after options, or after the
 * host names in known_hosts: any field). */
static bool line_has_blob(const char *line, const char *b64)
{
	g_auto(GStrv) fields = fields_of(line);

	for (char **f = fields; *f; f++)
		if (strcmp(*f, b64) == 0)
			return true;
	return false;
}

/* "TYPE BASE64" of a public key file, checked by libssh. */
static bool read_pubkey(const char *path, char **type, char **b64, GError **err)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) fields = NULL;
	g_autoptr(ssh_key_t) key = NULL;

	if (!read_text(path, &text, NULL, err))
		return false;
	fields = fields_of(text);
	if (g_strv_length(fields) < 2 ||
	    ssh_pki_import_pubkey_base64(fields[1], ssh_key_type_from_name(fields[0]), &key) !=
		SSH_OK) {
		g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID,
			    "%s holds no SSH public key", path);
		return false;
	}
	*type = g_strdup(fields[0]);
	*b64 = g_strdup(fields[1]);
	return true;
}

/* Writes path only when its content changes: at every start of every
 * node, a write would be a cluster-wide message for nothing. */
static bool update_text(const char *path, const char *old, bool missing, const char *text,
			mode_t mode, GError **err)
{
	if (!missing && strcmp(old, text) == 0)
		return true;
	return write_text(path, text, mode, err);
}

bool pvecm_certs_merge_authorized_keys(const pvecm_certs_node_t *node, GError **err)
{
	g_autofree char *shared = pve_path(node, AUTHORIZED_KEYS);
	g_autofree char *root_auth = g_build_filename(node->root_ssh_dir, "authorized_keys", NULL);
	g_autofree char *pub_path = g_build_filename(node->root_ssh_dir, ROOT_PUB, NULL);
	g_autofree char *priv = pve_path(node, "priv");
	g_autofree char *old = NULL, *local = NULL, *text = NULL;
	g_autofree char *type = NULL, *b64 = NULL;
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	bool missing;

	if (!ensure_dir(priv, PVE_PRIV_DIR_MODE, err) ||
	    !ensure_dir(node->root_ssh_dir, SSH_DIR_MODE, err) ||
	    !read_text(shared, &old, &missing, err) ||
	    !read_unless_link_to(root_auth, shared, &local, err))
		return false;
	add_lines(lines, seen, old);
	add_lines(lines, seen, local);
	if (exists(pub_path)) {
		if (!read_pubkey(pub_path, &type, &b64, err))
			return false;
		bool found = false;
		for (guint i = 0; i < lines->len && !found; i++)
			found = line_has_blob(lines->pdata[i], b64);
		if (!found) {
			g_autofree char *own = NULL;
			if (!g_file_get_contents(pub_path, &own, NULL, NULL))
				own = g_strdup_printf("%s %s", type, b64);
			add_lines(lines, seen, own);
		}
	}
	text = join_lines(lines);
	if (!update_text(shared, old, missing, text, PVE_PRIV_MODE, err))
		return false;
	return ensure_symlink(shared, root_auth, err);
}

/* known_hosts */

typedef struct {
	char *type, *b64;
} host_key_t;

static void host_key_free(gpointer p)
{
	host_key_t *k = p;

	g_free(k->type);
	g_free(k->b64);
	g_free(k);
}

static GPtrArray *read_host_keys(const pvecm_certs_node_t *node, GError **err)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(host_key_free);

	for (size_t i = 0; i < G_N_ELEMENTS(host_key_files); i++) {
		g_autofree char *path = g_build_filename(node->ssh_dir, host_key_files[i], NULL);
		host_key_t k = {0};
		if (!exists(path))
			continue;
		if (!read_pubkey(path, &k.type, &k.b64, err))
			return NULL;
		g_ptr_array_add(keys, g_memdup2(&k, sizeof(k)));
	}
	if (keys->len == 0) {
		g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_INVALID,
			    "no SSH host key in %s (ssh_host_{ed25519,ecdsa,rsa}_key.pub) - "
			    "create them with 'ssh-keygen -A'",
			    node->ssh_dir);
		return NULL;
	}
	return g_steal_pointer(&keys);
}

/* The names this node has in known_hosts: its name lowercased, as ssh
 * compares them, and its addresses. */
static GPtrArray *own_hosts(const pvecm_certs_node_t *node)
{
	GPtrArray *hosts = g_ptr_array_new_with_free_func(g_free);

	g_ptr_array_add(hosts, g_ascii_strdown(node->nodename, -1));
	for (char **a = node->addrs; a && *a; a++) {
		char *ip = canonical_ip(*a);
		bool dup = false;
		for (guint i = 0; ip && i < hosts->len && !dup; i++)
			dup = strcmp(hosts->pdata[i], ip) == 0;
		if (ip && !dup)
			g_ptr_array_add(hosts, ip);
		else
			g_free(ip);
	}
	return hosts;
}

static bool hashed_host_matches(const char *pattern, GPtrArray *hosts)
{
	g_auto(GStrv) parts = g_strsplit(pattern + strlen(HASHED_HOST_MAGIC), "|", -1);
	g_autofree guchar *salt = NULL, *want = NULL;
	gsize salt_len, want_len;

	if (g_strv_length(parts) != 2)
		return false;
	salt = g_base64_decode(parts[0], &salt_len);
	want = g_base64_decode(parts[1], &want_len);
	if (want_len != SHA1_LEN)
		return false;
	for (guint i = 0; i < hosts->len; i++) {
		const char *h = hosts->pdata[i];
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int md_len = 0;
		if (HMAC(EVP_sha1(), salt, (int)salt_len, (const unsigned char *)h, strlen(h), md,
			 &md_len) &&
		    md_len == SHA1_LEN && memcmp(md, want, SHA1_LEN) == 0)
			return true;
	}
	return false;
}

static bool host_is_ours(const char *pattern, GPtrArray *hosts)
{
	g_autofree char *ip = NULL;
	g_autofree char *lower = NULL;

	if (g_str_has_prefix(pattern, HASHED_HOST_MAGIC))
		return hashed_host_matches(pattern, hosts);
	ip = canonical_ip(pattern);
	lower = ip ? g_steal_pointer(&ip) : g_ascii_strdown(pattern, -1);
	for (guint i = 0; i < hosts->len; i++)
		if (strcmp(hosts->pdata[i], lower) == 0)
			return true;
	return false;
}

/* The line without this node's host names; NULL when none were in it, ""
 * when nothing else was. Comments and marker lines (@cert-authority,
 * @revoked) are never this node's. */
static char *strip_own_hosts(const char *line, GPtrArray *hosts)
{
	const char *rest = line + strcspn(line, " \t");
	g_autofree char *field = g_strndup(line, (gsize)(rest - line));
	g_auto(GStrv) patterns = NULL;
	g_autoptr(GPtrArray) others = g_ptr_array_new();
	bool removed = false;

	if (line[0] == '#' || line[0] == '@' || !*rest)
		return NULL;
	patterns = g_strsplit(field, ",", -1);
	for (char **p = patterns; *p; p++) {
		if (**p && host_is_ours(*p, hosts))
			removed = true;
		else
			g_ptr_array_add(others, *p);
	}
	if (!removed)
		return NULL;
	if (others->len == 0)
		return g_strdup("");
	g_ptr_array_add(others, NULL);
	g_autofree char *kept = g_strjoinv(",", (char **)others->pdata);
	return g_strconcat(kept, rest, NULL);
}

static void add_own_lines(GPtrArray *out, const GPtrArray *keys, const GPtrArray *hosts)
{
	for (guint h = 0; h < hosts->len; h++)
		for (guint k = 0; k < keys->len; k++) {
			const host_key_t *key = keys->pdata[k];
			g_ptr_array_add(out,
					g_strdup_printf("%s %s %s", (const char *)hosts->pdata[h],
							key->type, key->b64));
		}
}

/* The merged known_hosts: the lines in order without this node's names,
 * this node's lines where its first old line was (at the end if there was
 * none), so that a second run writes the same file. */
static char *merge_known(GPtrArray *lines, const GPtrArray *keys, GPtrArray *hosts)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	bool placed = false;

	for (guint i = 0; i < lines->len; i++) {
		const char *line = lines->pdata[i];
		g_autofree char *stripped = strip_own_hosts(line, hosts);
		if (stripped && !placed) {
			add_own_lines(out, keys, hosts);
			placed = true;
		}
		if (stripped && !*stripped)
			continue;
		const char *keep = stripped ? stripped : line;
		if (g_hash_table_contains(seen, keep))
			continue;
		g_ptr_array_add(out, g_strdup(keep));
		g_hash_table_add(seen, out->pdata[out->len - 1]);
	}
	if (!placed)
		add_own_lines(out, keys, hosts);
	return join_lines(out);
}

/* Whether ssh_known_hosts is a local file an unmerge marked. */
static bool unmerged(const char *global)
{
	g_autofree char *text = NULL;

	if (g_file_test(global, G_FILE_TEST_IS_SYMLINK) ||
	    !g_file_get_contents(global, &text, NULL, NULL))
		return false;
	return g_str_has_prefix(text, PVECM_CERTS_UNMERGED_MARK "\n");
}

/* ssh_known_hosts as a marked local file: a link (or nothing) becomes a
 * copy of the cluster's file, a local file keeps its lines. */
static bool unmerge_known(const char *global, const char *shared_text, GError **err)
{
	g_autofree char *local = NULL;
	g_autofree char *text = NULL;
	bool link = g_file_test(global, G_FILE_TEST_IS_SYMLINK);

	if (!link && !read_text(global, &local, NULL, err))
		return false;
	text = g_strconcat(PVECM_CERTS_UNMERGED_MARK "\n", link ? shared_text : local, NULL);
	return write_text(global, text, 0644, err);
}

bool pvecm_certs_merge_known_hosts(const pvecm_certs_node_t *node, GError **err)
{
	g_autofree char *shared = pve_path(node, KNOWN_HOSTS);
	g_autofree char *global = g_build_filename(node->ssh_dir, "ssh_known_hosts", NULL);
	g_autofree char *priv = pve_path(node, "priv");
	g_autofree char *old = NULL, *local = NULL, *text = NULL;
	g_autoptr(GPtrArray) keys = NULL;
	g_autoptr(GPtrArray) hosts = own_hosts(node);
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	bool missing;

	bool keep_local = unmerged(global);

	keys = read_host_keys(node, err);
	if (!keys || !ensure_dir(priv, PVE_PRIV_DIR_MODE, err) ||
	    !read_text(shared, &old, &missing, err))
		return false;
	if (!keep_local && !node->unmerge_known_hosts &&
	    !read_unless_link_to(global, shared, &local, err))
		return false;
	add_lines(lines, seen, old);
	if (local)
		add_lines(lines, seen, local);
	text = merge_known(lines, keys, hosts);
	if (!update_text(shared, old, missing, text, PVE_PRIV_MODE, err))
		return false;
	if (keep_local)
		return true;
	if (node->unmerge_known_hosts) {
		say(node, "unmerge SSH known hosts");
		return unmerge_known(global, text, err);
	}
	return ensure_symlink(shared, global, err);
}

/* Whether an authorized_keys line is the root key of node name: its
 * comment is root@NAME or root@NAME.DOMAIN, as ssh-keygen and updatecerts
 * write it. */
static bool root_key_of(const char *line, const char *name)
{
	g_auto(GStrv) f = fields_of(line);
	guint n = g_strv_length(f);
	size_t len = strlen(name);

	if (line[0] == '#' || n < 3)
		return false;
	const char *c = f[n - 1];
	if (!g_str_has_prefix(c, "root@") || g_ascii_strncasecmp(c + 5, name, len) != 0)
		return false;
	return c[5 + len] == '\0' || c[5 + len] == '.';
}

/* known_hosts text without the hosts' names (lines left with no name go),
 * or NULL when none was in it. */
static char *filter_known(const char *text, GPtrArray *hosts)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	bool changed = false;

	for (char **l = lines; *l; l++) {
		if (!**l && !l[1])
			break;
		g_autofree char *stripped = strip_own_hosts(*l, hosts);
		changed |= stripped != NULL;
		if (stripped && !*stripped)
			continue;
		g_ptr_array_add(out, g_strdup(stripped ? stripped : *l));
	}
	return changed ? join_lines(out) : NULL;
}

/* authorized_keys text without name's root key, or NULL when it was not
 * in it. */
static char *filter_authorized(const char *text, const char *name)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	bool changed = false;

	for (char **l = lines; *l; l++) {
		if (!**l && !l[1])
			break;
		if (root_key_of(*l, name)) {
			changed = true;
			continue;
		}
		g_ptr_array_add(out, g_strdup(*l));
	}
	return changed ? join_lines(out) : NULL;
}

bool pvecm_certs_forget_node(const char *pve_dir, const char *name, const char *const *addrs,
			     GError **err)
{
	g_autofree char *known = g_build_filename(pve_dir, KNOWN_HOSTS, NULL);
	g_autofree char *auth = g_build_filename(pve_dir, AUTHORIZED_KEYS, NULL);
	g_autofree char *ktext = NULL, *atext = NULL, *knew = NULL, *anew = NULL;
	g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func(g_free);
	bool kmissing, amissing;

	g_ptr_array_add(hosts, g_ascii_strdown(name, -1));
	for (const char *const *a = addrs; a && *a; a++) {
		char *ip = canonical_ip(*a);
		g_ptr_array_add(hosts, ip ? ip : g_ascii_strdown(*a, -1));
	}
	if (!read_text(known, &ktext, &kmissing, err) || !read_text(auth, &atext, &amissing, err))
		return false;
	knew = kmissing ? NULL : filter_known(ktext, hosts);
	anew = amissing ? NULL : filter_authorized(atext, name);
	return (!knew || write_text(known, knew, PVE_PRIV_MODE, err)) &&
	       (!anew || write_text(auth, anew, PVE_PRIV_MODE, err));
}

bool pvecm_certs_update_node(const pvecm_certs_node_t *node, bool force, GError **err)
{
	const char *reason = NULL;
	bool created;

	say(node, "(re)generate node files");
	if (!pvecm_certs_ensure_ca(node, &created, err))
		return false;
	if (created)
		say(node, "generate new cluster CA certificate");
	if (!pvecm_certs_ensure_node_cert(node, force, &created, &reason, err))
		return false;
	if (created && force)
		say(node, "generate new node certificate");
	else if (created)
		say(node, "generate new node certificate (%s)", reason);
	if (!pvecm_certs_ensure_root_key(node, &created, err))
		return false;
	if (created)
		say(node, "generate new SSH key pair for root");
	say(node, "merge authorized SSH keys and known hosts");
	return pvecm_certs_merge_authorized_keys(node, err) &&
	       pvecm_certs_merge_known_hosts(node, err);
}

/* The local node */

/* The host name nodename resolves to when it is a longer form of it, as
 * /etc/hosts lists "ADDRESS name.domain name". */
static char *resolve_fqdn(const char *nodename)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME};
	struct addrinfo *res = NULL;
	char *fqdn = NULL;

	if (getaddrinfo(nodename, NULL, &hints, &res) != 0)
		return NULL;
	const char *canon = res ? res->ai_canonname : NULL;
	size_t n = strlen(nodename);
	if (canon && g_ascii_strncasecmp(canon, nodename, n) == 0 && canon[n] == '.' &&
	    canon[n + 1])
		fqdn = g_strdup(canon);
	freeaddrinfo(res);
	return fqdn;
}

static bool add_address(GPtrArray *addrs, const char *host, GError **err)
{
	g_autofree char *ip = canonical_ip(host);

	if (!ip) {
		ip = nodeinfo_resolve(host, err);
		if (!ip)
			return false;
	}
	for (guint i = 0; i < addrs->len; i++)
		if (strcmp(addrs->pdata[i], ip) == 0)
			return true;
	g_ptr_array_add(addrs, g_steal_pointer(&ip));
	return true;
}

/* The node's ringX_addr values, resolved; an empty list when there is no
 * cluster configuration or it does not list the node. */
static bool conf_addresses(const char *nodename, GPtrArray *addrs, GError **err)
{
	g_autofree char *path = pvecm_env_cluster_conf();
	g_autoptr(corosync_conf_t) conf = NULL;
	g_autoptr(GPtrArray) nodes = NULL;

	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return true;
	conf = corosync_conf_load(path, err);
	if (!conf)
		return false;
	nodes = corosync_conf_nodes(conf);
	const corosync_conf_node_t *n = corosync_conf_find_node(nodes, nodename);
	for (unsigned l = 0; n && l < COROSYNC_CONF_MAX_LINKS; l++)
		if (n->addr[l] && !add_address(addrs, n->addr[l], err)) {
			g_prefix_error(err, "%s: ring%u_addr of node '%s': ", path, l, nodename);
			return false;
		}
	return true;
}

bool pvecm_certs_node_local(pvecm_certs_node_t *node, const char *nodename, GError **err)
{
	g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_free);

	*node = (pvecm_certs_node_t){0};
	if (!conf_addresses(nodename, addrs, err))
		return false;
	if (addrs->len == 0 && !add_address(addrs, nodename, err))
		return false;
	g_ptr_array_add(addrs, NULL);
	node->pve_dir = g_strdup(pvecm_env_pve_dir());
	node->ssh_dir = g_strdup(pvecm_env_ssh_dir());
	node->root_ssh_dir = g_strdup(pvecm_env_root_ssh_dir());
	node->nodename = g_strdup(nodename);
	node->fqdn = resolve_fqdn(nodename);
	node->addrs = (GStrv)g_ptr_array_free(g_steal_pointer(&addrs), FALSE);
	return true;
}

static bool not_quorate(GError **err)
{
	g_set_error(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_NOT_READY,
		    "cluster not quorate - %s is read-only, try again once it has quorum",
		    pvecm_env_pve_dir());
	return false;
}

static bool update_local(const char *nodename, bool force, bool unmerge, FILE *out, GError **err)
{
	pvecm_certs_node_t node;
	bool ok;

	if (!pvecm_certs_node_local(&node, nodename, err))
		return false;
	node.out = out;
	node.unmerge_known_hosts = unmerge;
	ok = pvecm_certs_update_node(&node, force, err);
	pvecm_certs_node_clear(&node);
	return ok;
}

bool pvecm_certs_update(bool force, GError **err)
{
	pvecm_daemon_status_t st;
	int rc = pvecm_daemon_status(&st, false);
	bool ok;

	if (rc != PVECM_EXIT_OK) {
		g_set_error(err, PVECM_CERTS_ERROR,
			    rc == PVECM_EXIT_NOT_READY ? PVECM_CERTS_ERROR_NOT_READY
						       : PVECM_CERTS_ERROR_INVALID,
			    "cannot ask pmxcfsd on %s for its state - see 'pvecm status' and "
			    "'%s status pmxcfsd'",
			    pvecm_env_socket(), pvecm_env_service_cmd());
		return false;
	}
	ok = st.quorate ? update_local(st.nodename, force, false, stdout, err) : not_quorate(err);
	pvecm_daemon_status_clear(&st);
	return ok;
}

int pvecm_updatecerts_run(const pvecm_cli_call_t *call)
{
	bool force = pvecm_cli_flag(call, "force", false);
	bool silent = pvecm_cli_flag(call, "silent", false);
	bool unmerge = pvecm_cli_flag(call, "unmerge-known-hosts", false);
	g_autoptr(GError) err = NULL;
	pvecm_daemon_status_t st;
	int rc = pvecm_daemon_status(&st, !silent);
	bool ok;

	/* As the reference, run at every start of the node: --silent lets
	 * that pass while the cluster is not ready. */
	if (rc != PVECM_EXIT_OK)
		return silent && rc == PVECM_EXIT_NOT_READY ? PVECM_EXIT_OK : rc;
	ok = st.quorate ? update_local(st.nodename, force, unmerge, silent ? NULL : stdout, &err)
			: not_quorate(&err);
	pvecm_daemon_status_clear(&st);
	if (ok)
		return PVECM_EXIT_OK;
	if (g_error_matches(err, PVECM_CERTS_ERROR, PVECM_CERTS_ERROR_NOT_READY)) {
		if (silent)
			return PVECM_EXIT_OK;
		fprintf(stderr, "%s: %s\n", pvecm_cli_name(call), err->message);
		return PVECM_EXIT_NOT_READY;
	}
	fprintf(stderr, "%s: %s\n", pvecm_cli_name(call), err->message);
	return PVECM_EXIT_FAILED;
}
