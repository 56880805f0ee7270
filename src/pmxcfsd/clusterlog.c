#include "clusterlog.h"

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct {
	uint64_t uid;
	clusterlog_entry_t e; /* strings owned */
} item_t;

struct clusterlog {
	GMutex lock;
	GQueue items; /* oldest at head */
	size_t max;
	uint64_t next_uid;
};

static void item_free(gpointer p)
{
	item_t *it = p;

	g_free((char *)it->e.node);
	g_free((char *)it->e.user);
	g_free((char *)it->e.tag);
	g_free((char *)it->e.msg);
	g_free(it);
}

clusterlog_t *clusterlog_new(size_t max_entries)
{
	clusterlog_t *cl = g_new0(clusterlog_t, 1);

	g_mutex_init(&cl->lock);
	g_queue_init(&cl->items);
	cl->max = max_entries ? max_entries : 1;
	cl->next_uid = 1;
	return cl;
}

void clusterlog_free(clusterlog_t *cl)
{
	if (!cl)
		return;
	g_queue_clear_full(&cl->items, item_free);
	g_mutex_clear(&cl->lock);
	g_free(cl);
}

void clusterlog_add(clusterlog_t *cl, const clusterlog_entry_t *entry)
{
	item_t *it = g_new0(item_t, 1);

	it->e = *entry;
	it->e.node = g_strdup(entry->node ? entry->node : "");
	it->e.user = g_strdup(entry->user ? entry->user : "root@pam");
	it->e.tag = g_strdup(entry->tag ? entry->tag : "");
	it->e.msg = g_strdup(entry->msg ? entry->msg : "");
	g_mutex_lock(&cl->lock);
	it->uid = cl->next_uid++;
	g_queue_push_tail(&cl->items, it);
	while (g_queue_get_length(&cl->items) > cl->max)
		item_free(g_queue_pop_head(&cl->items));
	g_mutex_unlock(&cl->lock);
}

size_t clusterlog_count(clusterlog_t *cl)
{
	g_mutex_lock(&cl->lock);
	size_t n = g_queue_get_length(&cl->items);
	g_mutex_unlock(&cl->lock);
	return n;
}

static void add_item(JsonBuilder *b, const item_t *it)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "uid");
	json_builder_add_int_value(b, (gint64)it->uid);
	json_builder_set_member_name(b, "time");
	json_builder_add_int_value(b, it->e.time);
	json_builder_set_member_name(b, "pri");
	json_builder_add_int_value(b, it->e.pri);
	json_builder_set_member_name(b, "tag");
	json_builder_add_string_value(b, it->e.tag);
	json_builder_set_member_name(b, "pid");
	json_builder_add_int_value(b, it->e.pid);
	json_builder_set_member_name(b, "node");
	json_builder_add_string_value(b, it->e.node);
	json_builder_set_member_name(b, "user");
	json_builder_add_string_value(b, it->e.user);
	json_builder_set_member_name(b, "msg");
	json_builder_add_string_value(b, it->e.msg);
	json_builder_end_object(b);
}

char *clusterlog_json(clusterlog_t *cl, size_t max, size_t *len)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	size_t n = 0;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "data");
	json_builder_begin_array(b);
	g_mutex_lock(&cl->lock);
	for (GList *l = cl->items.tail; l && n < max; l = l->prev, n++)
		add_item(b, l->data);
	g_mutex_unlock(&cl->lock);
	json_builder_end_array(b);
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	gsize glen = 0;
	char *out = json_generator_to_data(gen, &glen);
	if (len)
		*len = glen;
	return out;
}
