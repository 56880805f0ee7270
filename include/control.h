/* The daemon's control socket: a UNIX stream socket on the glib main loop,
 * framed with proto.h, served to uid 0 only (SO_PEERCRED). Requests are
 * dispatched by table; every request gets exactly one reply. */
#ifndef PVECM_CONTROL_H
#define PVECM_CONTROL_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

typedef struct control control_t;

/* A handler returns 0 or a negative errno; on success it may set *reply
 * (a floating or owned GVariant, the server sinks and unrefs it). */
typedef int (*control_handler_fn)(void *ctx, GVariant *request, GVariant **reply);

typedef struct {
	uint16_t type;		  /* PROTO_CMD_* from proto.h */
	const char *name;	  /* for logs */
	const char *request_type; /* GVariant type string the payload must have, e.g. "()" */
	uint32_t max_payload;	  /* bytes; larger requests are refused with -EMSGSIZE */
	control_handler_fn handler;
} control_cmd_t;

/* Only root may connect at all, so this bounds mistakes (a script that
 * leaks connections), not attacks. */
#define CONTROL_MAX_CONNS 64

/* A connection that neither sends nor receives a byte for this long is
 * closed: pvecm gives up on a reply after PROTO_CALL_TIMEOUT_MS anyway. */
#define CONTROL_IDLE_TIMEOUT_S 30

/* Creates the socket at path (parent directory created 0755, stale socket
 * replaced, socket 0600) and attaches it to the thread-default main context.
 * Connections idle for idle_timeout_s seconds (0: CONTROL_IDLE_TIMEOUT_S)
 * are closed; past the connection limit a new one gets a PROTO_CMD_NONE
 * reply with -EUSERS and is closed. The table must outlive the server.
 * Returns NULL and sets err on failure. */
control_t *control_new(const char *path, const control_cmd_t *cmds, size_t ncmds, void *ctx,
		       unsigned idle_timeout_s, GError **err);

/* Closes every connection and removes the socket file. Safe on NULL. */
void control_free(control_t *ctl);

#endif
