#include "confsync.h"

#include "corosync_conf.h"
#include "log.h"

#include <corosync/cfg.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

/* What corosync's own packaging gives the file. */
#define LOCAL_CONF_MODE 0644

struct confsync {
	char *local_path;
	bool reload;
	/* The last content refused, so that the same refusal is logged once
	 * and not again at every later change of the tree. */
	char *refused_digest;
	/* Runs confsync_queue's work, one at a time, in order. */
	GThreadPool *worker;
};

typedef struct {
	char *source;
	char *text;
	size_t len;
} job_t;

confsync_t *confsync_new(const char *local_path, bool reload)
{
	confsync_t *cs = g_new0(confsync_t, 1);

	cs->local_path = g_strdup(local_path);
	cs->reload = reload;
	return cs;
}

void confsync_free(confsync_t *cs)
{
	if (!cs)
		return;
	/* Lets a queued change reach corosync before the daemon goes. */
	if (cs->worker)
		g_thread_pool_free(cs->worker, FALSE, TRUE);
	g_free(cs->local_path);
	g_free(cs->refused_digest);
	g_free(cs);
}

static char *digest(const char *text, size_t len)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)text, len);
}

/* Logs a refusal unless this very content was refused last time. */
static confsync_result_t refuse(confsync_t *cs, const char *text, size_t len, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static confsync_result_t refuse(confsync_t *cs, const char *text, size_t len, const char *fmt, ...)
{
	g_autofree char *d = digest(text, len);
	va_list ap;

	if (cs->refused_digest && strcmp(cs->refused_digest, d) == 0)
		return CONFSYNC_REFUSED;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	log_warn("%s", msg);
	g_free(cs->refused_digest);
	cs->refused_digest = g_steal_pointer(&d);
	return CONFSYNC_REFUSED;
}

/* Asks the local corosync to read its configuration again. corosync
 * applies what it can change live (links, addresses, votes) and logs
 * what would need a restart. */
static void reload_corosync(const char *path)
{
	corosync_cfg_handle_t h;
	cs_error_t rc = corosync_cfg_initialize(&h, NULL);

	if (rc != CS_OK) {
		log_notice("%s updated; corosync is not running (%s), it reads the new file when "
			   "it starts",
			   path, cs_strerror(rc));
		return;
	}
	rc = corosync_cfg_reload_config(h);
	if (rc != CS_OK)
		log_err("%s updated, but corosync refused to reload it: %s - see 'journalctl -u "
			"corosync', fix the file or restart corosync",
			path, cs_strerror(rc));
	else
		log_notice("corosync reloaded %s", path);
	corosync_cfg_finalize(h);
}

confsync_result_t confsync_apply(confsync_t *cs, const char *source, const char *text, size_t len)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(corosync_conf_t) conf = NULL;

	/* `cp` and editors create the file before they write it: an empty
	 * file is one on its way, not a configuration to complain about. */
	if (len == 0)
		return CONFSYNC_UNCHANGED;
	conf = corosync_conf_parse(text, (gssize)len, source, &err);
	if (!conf)
		return refuse(cs, text, len, "not applying %s to %s: %s", source, cs->local_path,
			      err->message);
	if (!corosync_conf_validate(conf, source, &err) ||
	    !corosync_conf_check_resolvable(conf, source, &err))
		return refuse(cs, text, len, "not applying %s to %s: %s", source, cs->local_path,
			      err->message);

	uint64_t version = corosync_conf_version(conf), local_version = 0;
	g_autofree char *local = NULL;
	gsize local_len = 0;

	if (g_file_get_contents(cs->local_path, &local, &local_len, &err)) {
		if (local_len == len && memcmp(local, text, len) == 0)
			return CONFSYNC_UNCHANGED;
		g_autoptr(corosync_conf_t) lconf =
		    corosync_conf_parse(local, (gssize)local_len, cs->local_path, NULL);
		/* A local copy that does not parse cannot be worth keeping
		 * over a valid cluster file. */
		if (lconf)
			local_version = corosync_conf_version(lconf);
		if (version <= local_version)
			return refuse(cs, text, len,
				      "not applying %s to %s: its config_version %" G_GUINT64_FORMAT
				      " is not higher than the local copy's %" G_GUINT64_FORMAT
				      " - increase config_version when editing",
				      source, cs->local_path, version, local_version);
	} else if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		return refuse(cs, text, len, "not applying %s: cannot read %s", source,
			      err->message);
	}
	g_clear_error(&err);

	/* Written byte for byte: the cluster's file is what an admin wrote
	 * and checked, comments and all. */
	if (!g_file_set_contents_full(cs->local_path, text, (gssize)len,
				      G_FILE_SET_CONTENTS_CONSISTENT, LOCAL_CONF_MODE, &err))
		return refuse(cs, text, len, "cannot update %s from %s: %s", cs->local_path, source,
			      err->message);
	g_clear_pointer(&cs->refused_digest, g_free);
	log_notice("%s: config_version %" G_GUINT64_FORMAT " (was %" G_GUINT64_FORMAT
		   ") written from %s",
		   cs->local_path, version, local_version, source);
	if (cs->reload)
		reload_corosync(cs->local_path);
	return CONFSYNC_APPLIED;
}

static void run_job(gpointer data, gpointer user_data)
{
	job_t *j = data;

	confsync_apply(user_data, j->source, j->text, j->len);
	g_free(j->source);
	g_free(j->text);
	g_free(j);
}

void confsync_queue(confsync_t *cs, const char *source, const char *text, size_t len)
{
	g_autoptr(GError) err = NULL;
	job_t *j;

	if (!cs->worker) {
		cs->worker = g_thread_pool_new(run_job, cs, 1, FALSE, &err);
		if (!cs->worker) {
			log_err("cannot start the corosync.conf worker (%s); applying %s now",
				err->message, source);
			confsync_apply(cs, source, text, len);
			return;
		}
	}
	j = g_new(job_t, 1);
	j->source = g_strdup(source);
	j->text = g_memdup2(text, len);
	j->len = len;
	g_thread_pool_push(cs->worker, j, NULL);
}
