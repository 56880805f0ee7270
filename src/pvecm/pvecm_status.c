#include "pvecm_status.h"

#include "corosync_conf.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"
#include "pvecm_quorum.h"

#include <corosync/votequorum.h>
#include <errno.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the reference prints for totem keys the file leaves out: corosync's
 * own defaults (corosync.conf(5): knet, secauth off), -1 for a missing
 * config_version, and for a missing cluster_name a marker no cluster can
 * be named. */
#define DEFAULT_TRANSPORT "knet"
#define DEFAULT_SECAUTH "off"
#define DEFAULT_CONFIG_VERSION "-1"
#define DEFAULT_CLUSTER_NAME "UNKNOWN?"

const pvecm_cli_opt_t pvecm_status_opts[] = {
    {
	.name = PVECM_OUTPUT_FORMAT,
	.type = PVECM_CLI_STRING,
	.value_text = "<json | text>",
	.default_text = "text",
	.description = "Output format.",
    },
    {.name = NULL},
};

const pvecm_cli_arg_t pvecm_expected_args[] = {
    {.name = "expected",
     .description = "Expected votes",
     .type = PVECM_CLI_INTEGER,
     .min = 1,
     .max = G_MAXINT64},
    {.name = NULL},
};

typedef enum {
	FORMAT_TEXT,
	FORMAT_JSON,
} format_t;

/* The value of --output-format; false after a one-line usage error. */
static bool parse_format(const pvecm_cli_call_t *call, format_t *format)
{
	const char *v = pvecm_cli_opt(call, PVECM_OUTPUT_FORMAT);

	if (!v || strcmp(v, "text") == 0)
		*format = FORMAT_TEXT;
	else if (strcmp(v, "json") == 0)
		*format = FORMAT_JSON;
	else {
		fprintf(stderr, "ERROR: option '--%s': '%s' is not one of json, text\n",
			PVECM_OUTPUT_FORMAT, v);
		return false;
	}
	return true;
}

/* Checks first */

static int check_cluster_conf(void)
{
	g_autofree char *conf = pvecm_env_cluster_conf();
	struct stat st;

	if (stat(conf, &st) == 0) {
		if (S_ISREG(st.st_mode))
			return PVECM_EXIT_OK;
	} else if (errno != ENOENT && errno != ENOTDIR) {
		fprintf(stderr, "Error: cannot access corosync config '%s': %s\n", conf,
			g_strerror(errno));
		return PVECM_EXIT_FAILED;
	}
	fprintf(stderr,
		"Error: Corosync config '%s' does not exist - is this node part of a cluster?\n",
		conf);
	return PVECM_EXIT_NOT_READY;
}

/* What every command here checks before it asks corosync, as the
 * reference does. */
static int check_node(void)
{
	pvecm_daemon_status_t st;
	/* Without pmxcfsd, /etc/pve is an empty directory and every node
	 * would look like it is not in a cluster: ask the daemon first. */
	int rc = pvecm_daemon_status(&st, true);

	pvecm_daemon_status_clear(&st);
	return rc == PVECM_EXIT_OK ? check_cluster_conf() : rc;
}

/* One line for a failed request to corosync, saying what to do; returns
 * the exit code. */
static int corosync_failed(const GError *err, const char *what)
{
	const char *hint = "see corosync's log";

	if (g_error_matches(err, PVECM_QUORUM_ERROR, PVECM_QUORUM_ERROR_NOT_RUNNING)) {
		fprintf(stderr, "pvecm: %s - start it with '%s start corosync'\n", err->message,
			pvecm_env_service_cmd());
		return PVECM_EXIT_NOT_READY;
	}
	if (g_error_matches(err, PVECM_QUORUM_ERROR, PVECM_QUORUM_ERROR_REFUSED))
		hint = "the votes present must be able to reach the quorum it gives (see 'pvecm "
		       "status')";
	else if (g_error_matches(err, PVECM_QUORUM_ERROR, PVECM_QUORUM_ERROR_NO_VOTEQUORUM))
		hint = "expected votes need quorum.provider: corosync_votequorum";
	fprintf(stderr, "pvecm: %s: %s - %s\n", what, err->message, hint);
	return PVECM_EXIT_FAILED;
}

/* Reads corosync's view; on failure says what to do and returns NULL
 * with *rc set to the exit code. */
static pvecm_quorum_t *read_view(unsigned flags, const char *what, int *rc)
{
	g_autoptr(GError) err = NULL;
	pvecm_quorum_t *q = pvecm_quorum_read(flags, &err);

	if (!q)
		*rc = corosync_failed(err, what);
	return q;
}

/* The cluster's corosync.conf */

/* The totem settings the "Cluster information" block shows. Like the
 * reference, a file that cannot be read or has no totem section leaves
 * the block out (with a warning) instead of failing the whole status. */
static corosync_conf_t *load_cluster_conf(pvecm_status_cluster_t *info)
{
	g_autofree char *path = pvecm_env_cluster_conf();
	g_autoptr(GError) err = NULL;
	corosync_conf_t *conf = corosync_conf_load(path, &err);
	corosync_conf_item_t *totem;

	if (!conf) {
		fprintf(stderr, "pvecm: warning: cannot read the cluster information: %s\n",
			err->message);
		return NULL;
	}
	totem = corosync_conf_find_section(conf->root, "totem");
	if (!totem || !totem->items || totem->items->len == 0) {
		corosync_conf_free(conf);
		return NULL;
	}
	info->name = corosync_conf_get(conf, "totem.cluster_name");
	info->config_version = corosync_conf_get(conf, "totem.config_version");
	info->transport = corosync_conf_get(conf, "totem.transport");
	info->secauth = corosync_conf_get(conf, "totem.secauth");
	return conf;
}

/* Text: the layout of the reference (pvecm) and of corosync-quorumtool */

static void text_cluster_info(GString *out, const pvecm_status_cluster_t *c)
{
	const struct {
		const char *label, *value, *fallback;
	} rows[] = {
	    {"Name:", c->name, DEFAULT_CLUSTER_NAME},
	    {"Config Version:", c->config_version, DEFAULT_CONFIG_VERSION},
	    {"Transport:", c->transport, DEFAULT_TRANSPORT},
	    {"Secure auth:", c->secauth, DEFAULT_SECAUTH},
	};

	g_string_append(out, "Cluster information\n");
	g_string_append(out, "-------------------\n");
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
		g_string_append_printf(out, "%-17s %s\n", rows[i].label,
				       rows[i].value ? rows[i].value : rows[i].fallback);
	g_string_append(out, "\n");
}

/* The tool right-aligns columns in 10 characters and follows each with a
 * space; longer values push the rest of the line right. */
static void text_cell(GString *out, const char *s)
{
	g_string_append_printf(out, "%10s ", s);
}

static void text_nodeid(GString *out, uint32_t id, bool hex)
{
	if (hex)
		g_string_append_printf(out, "0x%08" PRIx32 " ", id);
	else
		g_string_append_printf(out, "%10" PRIu32 " ", id);
}

static void qdevice_flags_text(uint32_t flags, char *buf, size_t len)
{
	if (!(flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED)) {
		g_strlcpy(buf, "NR", len);
		return;
	}
	/* corosync-quorumtool formats into 9 bytes of a 10-byte buffer, so
	 * "NA,NV,NMW" comes out as "NA,NV,NM"; scripts compare with it. */
	g_snprintf(buf, MIN(len, 9), "%s,%s,%s", flags & VOTEQUORUM_INFO_QDEVICE_ALIVE ? "A" : "NA",
		   flags & VOTEQUORUM_INFO_QDEVICE_CAST_VOTE ? "V" : "NV",
		   flags & VOTEQUORUM_INFO_QDEVICE_MASTER_WINS ? "MW" : "NMW");
}

/* "Membership information", as `corosync-quorumtool -l` (decimal ids,
 * names) and `-siH` (hex ids, addresses) print it. */
static void text_members(GString *out, const pvecm_quorum_t *q, bool hex, bool ips)
{
	g_string_append(out, "\nMembership information\n");
	g_string_append(out, "----------------------\n");
	text_cell(out, "Nodeid");
	if (q->votequorum) {
		text_cell(out, "Votes");
		if (q->qdevice)
			text_cell(out, "Qdevice");
	}
	g_string_append(out, "Name\n");
	for (guint i = 0; i < q->members->len; i++) {
		const pvecm_quorum_member_t *m = q->members->pdata[i];
		const char *label = ips ? m->ip : m->name;

		text_nodeid(out, m->nodeid, hex);
		if (q->votequorum) {
			g_string_append_printf(out, "%10" PRIu32 " ", m->votes);
			if (q->qdevice) {
				char flags[16];

				qdevice_flags_text(m->flags, flags, sizeof(flags));
				text_cell(out, flags);
			}
		}
		g_string_append_printf(out, "%s%s\n", label ? label : "",
				       m->local ? " (local)" : "");
	}
	if (!q->qdevice)
		return;
	text_nodeid(out, VOTEQUORUM_QDEVICE_NODEID, hex);
	/* A device that does not vote here shows 0 votes, its real count
	 * after the name. */
	g_string_append_printf(out, "%10" PRIu32 " ", q->qdevice_cast_vote ? q->qdevice_votes : 0);
	g_string_append_printf(out, "           %s", q->qdevice_name);
	if (q->qdevice_cast_vote)
		g_string_append(out, "\n");
	else
		g_string_append_printf(out, " (votes %d)\n", (int)q->qdevice_votes);
}

static const struct {
	uint32_t bit;
	const char *name;
} vq_flags[] = {
    {VOTEQUORUM_INFO_TWONODE, "2Node"},
    {VOTEQUORUM_INFO_QUORATE, "Quorate"},
    {VOTEQUORUM_INFO_WAIT_FOR_ALL, "WaitForAll"},
    {VOTEQUORUM_INFO_LAST_MAN_STANDING, "LastManStanding"},
    {VOTEQUORUM_INFO_AUTO_TIE_BREAKER, "AutoTieBreaker"},
    {VOTEQUORUM_INFO_ALLOW_DOWNSCALE, "AllowDownscale"},
    {VOTEQUORUM_INFO_QDEVICE_REGISTERED, "Qdevice"},
};

/* `corosync-quorumtool -siH`, byte for byte (trailing spaces included). */
static void text_quorum(GString *out, const pvecm_quorum_t *q, time_t now)
{
	char date[64];
	/* ctime's layout, newline included, as the tool prints it; NULL
	 * only for a year past 9999 */
	const char *when = ctime_r(&now, date);

	g_string_append(out, "Quorum information\n");
	g_string_append(out, "------------------\n");
	g_string_append_printf(out, "Date:             %s", when ? when : "\n");
	g_string_append_printf(out, "Quorum provider:  %s\n",
			       q->provider ? q->provider : "Not configured");
	g_string_append_printf(out, "Nodes:            %u\n", q->members->len);
	g_string_append_printf(out, "Node ID:          0x%08" PRIx32 "\n", q->nodeid);
	if (q->votequorum)
		g_string_append_printf(out, "Ring ID:          %" PRIx32 ".%" PRIx64 "\n",
				       q->ring_nodeid, q->ring_seq);
	else
		g_string_append_printf(out, "Ring ID:          %" PRIx64 "\n", q->ring_seq);
	g_string_append_printf(out, "Quorate:          %s\n", q->quorate ? "Yes" : "No");
	/* Without votequorum the tool stops here, members included. */
	if (!q->votequorum)
		return;
	g_string_append(out, "\nVotequorum information\n");
	g_string_append(out, "----------------------\n");
	g_string_append_printf(out, "Expected votes:   %d\n", (int)q->expected_votes);
	g_string_append_printf(out, "Highest expected: %d\n", (int)q->highest_expected);
	g_string_append_printf(out, "Total votes:      %d\n", (int)q->total_votes);
	g_string_append_printf(out, "Quorum:           %d %s\n", (int)q->quorum,
			       q->flags & VOTEQUORUM_INFO_QUORATE ? " " : "Activity blocked");
	g_string_append(out, "Flags:            ");
	for (size_t i = 0; i < G_N_ELEMENTS(vq_flags); i++)
		if (q->flags & vq_flags[i].bit)
			g_string_append_printf(out, "%s ", vq_flags[i].name);
	g_string_append(out, "\n");
	text_members(out, q, true, true);
}

char *pvecm_status_text(const pvecm_status_cluster_t *cluster, const pvecm_quorum_t *q, time_t now)
{
	GString *out = g_string_new(NULL);

	if (cluster)
		text_cluster_info(out, cluster);
	text_quorum(out, q, now);
	return g_string_free(out, FALSE);
}

char *pvecm_status_nodes_text(const pvecm_quorum_t *q)
{
	GString *out = g_string_new(NULL);

	text_members(out, q, false, false);
	return g_string_free(out, FALSE);
}

/* JSON */

static void json_opt_string(JsonBuilder *b, const char *member, const char *value)
{
	json_builder_set_member_name(b, member);
	if (value)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void json_int(JsonBuilder *b, const char *member, gint64 value)
{
	json_builder_set_member_name(b, member);
	json_builder_add_int_value(b, value);
}

static void json_bool(JsonBuilder *b, const char *member, bool value)
{
	json_builder_set_member_name(b, member);
	json_builder_add_boolean_value(b, value);
}

static char *json_text(JsonBuilder *b)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);

	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

static void json_cluster(JsonBuilder *b, const pvecm_status_cluster_t *c)
{
	guint64 version;

	json_builder_set_member_name(b, "cluster");
	if (!c) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	json_opt_string(b, "name", c->name);
	json_builder_set_member_name(b, "config_version");
	if (c->config_version &&
	    g_ascii_string_to_unsigned(c->config_version, 10, 0, G_MAXINT64, &version, NULL))
		json_builder_add_int_value(b, (gint64)version);
	else
		json_builder_add_null_value(b);
	json_opt_string(b, "transport", c->transport ? c->transport : DEFAULT_TRANSPORT);
	json_bool(b, "secauth", g_strcmp0(c->secauth ? c->secauth : DEFAULT_SECAUTH, "on") == 0);
	json_builder_end_object(b);
}

static void json_quorum(JsonBuilder *b, const pvecm_quorum_t *q)
{
	json_builder_set_member_name(b, "quorum");
	json_builder_begin_object(b);
	json_opt_string(b, "provider", q->provider);
	json_int(b, "nodes", q->members->len);
	json_int(b, "nodeid", q->nodeid);
	json_builder_set_member_name(b, "ring_id");
	json_builder_begin_object(b);
	json_int(b, "nodeid", q->ring_nodeid);
	json_int(b, "seq", (gint64)q->ring_seq);
	json_builder_end_object(b);
	json_bool(b, "quorate", q->quorate);
	json_builder_end_object(b);
}

static void json_votequorum(JsonBuilder *b, const pvecm_quorum_t *q)
{
	json_builder_set_member_name(b, "votequorum");
	if (!q->votequorum) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	json_int(b, "expected_votes", q->expected_votes);
	json_int(b, "highest_expected", q->highest_expected);
	json_int(b, "total_votes", q->total_votes);
	json_int(b, "quorum", q->quorum);
	json_builder_set_member_name(b, "flags");
	json_builder_begin_array(b);
	for (size_t i = 0; i < G_N_ELEMENTS(vq_flags); i++)
		if (q->flags & vq_flags[i].bit)
			json_builder_add_string_value(b, vq_flags[i].name);
	json_builder_end_array(b);
	json_builder_end_object(b);
}

/* One member. status gives its nodelist name and address; nodes gives
 * the name as the text shows it (resolved when the nodelist has none). */
static void json_member(JsonBuilder *b, const pvecm_quorum_t *q, const pvecm_quorum_member_t *m,
			bool with_ip)
{
	json_builder_begin_object(b);
	json_int(b, "nodeid", m->nodeid);
	json_builder_set_member_name(b, "votes");
	if (q->votequorum)
		json_builder_add_int_value(b, m->votes);
	else
		json_builder_add_null_value(b);
	json_opt_string(b, "name", m->name);
	if (with_ip)
		json_opt_string(b, "ip", m->ip);
	json_bool(b, "local", m->local);
	if (q->qdevice) {
		json_builder_set_member_name(b, "qdevice");
		json_builder_begin_object(b);
		json_bool(b, "registered", m->flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED);
		json_bool(b, "alive", m->flags & VOTEQUORUM_INFO_QDEVICE_ALIVE);
		json_bool(b, "cast_vote", m->flags & VOTEQUORUM_INFO_QDEVICE_CAST_VOTE);
		json_bool(b, "master_wins", m->flags & VOTEQUORUM_INFO_QDEVICE_MASTER_WINS);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
}

static void json_members(JsonBuilder *b, const pvecm_quorum_t *q, bool with_ip)
{
	json_builder_set_member_name(b, "members");
	json_builder_begin_array(b);
	for (guint i = 0; i < q->members->len; i++)
		json_member(b, q, q->members->pdata[i], with_ip);
	json_builder_end_array(b);
}

static void json_qdevice(JsonBuilder *b, const pvecm_quorum_t *q)
{
	json_builder_set_member_name(b, "qdevice");
	if (!q->qdevice) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	json_int(b, "nodeid", VOTEQUORUM_QDEVICE_NODEID);
	json_opt_string(b, "name", q->qdevice_name);
	json_int(b, "votes", q->qdevice_votes);
	json_bool(b, "cast_vote", q->qdevice_cast_vote);
	json_builder_end_object(b);
}

char *pvecm_status_json(const pvecm_status_cluster_t *cluster, const pvecm_quorum_t *q)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_cluster(b, cluster);
	json_quorum(b, q);
	json_votequorum(b, q);
	json_members(b, q, true);
	json_qdevice(b, q);
	json_builder_end_object(b);
	return json_text(b);
}

char *pvecm_status_nodes_json(const pvecm_quorum_t *q)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_members(b, q, false);
	json_builder_end_object(b);
	return json_text(b);
}

/* Commands */

int pvecm_status_run(const pvecm_cli_call_t *call)
{
	g_autoptr(corosync_conf_t) conf = NULL;
	g_autoptr(pvecm_quorum_t) q = NULL;
	g_autofree char *out = NULL;
	pvecm_status_cluster_t info = {0};
	format_t format;
	int rc;

	if (!parse_format(call, &format))
		return PVECM_EXIT_USAGE;
	rc = check_node();
	if (rc != PVECM_EXIT_OK)
		return rc;
	conf = load_cluster_conf(&info);
	/* corosync first: when it cannot be asked, nothing is printed but
	 * the error. */
	q = read_view(0, "cannot read the cluster status from corosync", &rc);
	if (!q)
		return rc;
	if (format == FORMAT_JSON) {
		out = pvecm_status_json(conf ? &info : NULL, q);
		printf("%s\n", out);
	} else {
		out = pvecm_status_text(conf ? &info : NULL, q, time(NULL));
		fputs(out, stdout);
	}
	/* As the reference, whose status ends in `corosync-quorumtool -s`:
	 * a partition without quorum exits 2, after printing everything. */
	return q->quorate ? PVECM_EXIT_OK : PVECM_EXIT_NOT_READY;
}

int pvecm_nodes_run(const pvecm_cli_call_t *call)
{
	g_autoptr(pvecm_quorum_t) q = NULL;
	g_autofree char *out = NULL;
	format_t format;
	int rc;

	if (!parse_format(call, &format))
		return PVECM_EXIT_USAGE;
	rc = check_node();
	if (rc != PVECM_EXIT_OK)
		return rc;
	q = read_view(PVECM_QUORUM_RESOLVE, "cannot read the cluster nodes from corosync", &rc);
	if (!q)
		return rc;
	if (format == FORMAT_JSON) {
		out = pvecm_status_nodes_json(q);
		printf("%s\n", out);
	} else {
		out = pvecm_status_nodes_text(q);
		fputs(out, stdout);
	}
	return PVECM_EXIT_OK;
}

int pvecm_expected_run(const pvecm_cli_call_t *call)
{
	const char *arg = pvecm_cli_arg(call, 0);
	g_autoptr(GError) err = NULL;
	g_autofree char *what = NULL;
	guint64 expected;
	int rc;

	if (!g_ascii_string_to_unsigned(arg, 10, 1, G_MAXUINT32, &expected, NULL)) {
		fprintf(stderr,
			"ERROR: <expected>: '%s' is not a number of votes (an integer of at least "
			"1) - usage: %s <expected>\n",
			arg, pvecm_cli_name(call));
		return PVECM_EXIT_USAGE;
	}
	rc = check_node();
	if (rc != PVECM_EXIT_OK)
		return rc;
	if (pvecm_quorum_set_expected((uint32_t)expected, &err))
		return PVECM_EXIT_OK;
	what = g_strdup_printf("cannot set expected votes to %" G_GUINT64_FORMAT, expected);
	return corosync_failed(err, what);
}

int pvecm_status_check_node(void)
{
	return check_node();
}

int pvecm_status_corosync_failed(const GError *err, const char *what)
{
	return corosync_failed(err, what);
}
