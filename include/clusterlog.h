/* The cluster log shown in /etc/pve/.clusterlog: a bounded list of events,
 * oldest dropped first. Thread safe. */
#ifndef PVECM_CLUSTERLOG_H
#define PVECM_CLUSTERLOG_H

#include <stddef.h>
#include <stdint.h>

/* How many entries are kept, and how many .clusterlog shows by default. */
#define CLUSTERLOG_MAX_ENTRIES 5000
#define CLUSTERLOG_SHOW 50

typedef struct clusterlog clusterlog_t;

typedef struct {
	uint32_t time;
	uint32_t pid;
	uint8_t pri; /* syslog priority */
	const char *node;
	const char *user;
	const char *tag;
	const char *msg;
} clusterlog_entry_t;

clusterlog_t *clusterlog_new(size_t max_entries);
void clusterlog_free(clusterlog_t *cl);

void clusterlog_add(clusterlog_t *cl, const clusterlog_entry_t *entry);
size_t clusterlog_count(clusterlog_t *cl);

/* {"data": [...]} with the newest max entries first; g_free() the result. */
char *clusterlog_json(clusterlog_t *cl, size_t max, size_t *len);

#endif
