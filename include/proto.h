/* The control protocol between pvecm and pmxcfsd: framing, payload codec and
 * a blocking one-shot client.
 *
 * A frame is a fixed 24-byte little-endian header followed by `length` bytes
 * of payload, a GVariant in its serialized normal form. Requests carry status
 * 0; every request gets exactly one reply with PROTO_FLAG_REPLY set, the same
 * type and request id, and a status that is 0 or a negative errno. A reply
 * with status 0 carries the command's reply payload; an error reply carries
 * none (length 0).
 *
 *   offset  size  field
 *        0     4  magic       PROTO_MAGIC
 *        4     2  version     PROTO_VERSION
 *        6     2  type        PROTO_CMD_*
 *        8     4  flags       PROTO_FLAG_*
 *       12     4  length      payload bytes, at most PROTO_MAX_PAYLOAD
 *       16     4  request_id  chosen by the client, echoed in the reply
 *       20     4  status      0 in requests, 0 or -errno in replies
 */
#ifndef PVECM_PROTO_H
#define PVECM_PROTO_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* "PVCM" on the wire. */
#define PROTO_MAGIC 0x4d435650u

/* Bump on any incompatible change to the header, to a command's payload
 * types or to their meaning. magic and version keep their offsets in every
 * version, so two programs of different versions can always tell that they
 * differ and say so instead of misreading each other. */
#define PROTO_VERSION 1

#define PROTO_HEADER_SIZE 24

/* Every command's payload is a few hundred bytes; the cap bounds what a
 * connection can make the daemon allocate before anything is checked. */
#define PROTO_MAX_PAYLOAD (64u * 1024u)

#define PROTO_FLAG_REPLY 0x1u
#define PROTO_FLAGS_KNOWN PROTO_FLAG_REPLY

/* How long pvecm waits for pmxcfsd before it gives up on a call. */
#define PROTO_CALL_TIMEOUT_MS 10000

/* Commands. Request and reply payload types are part of the protocol. */
enum {
	/* Never a request. A reply of this type with request id 0 answers no
	 * request: the server refused the connection itself, its status says
	 * why (-EUSERS: too many connections open). */
	PROTO_CMD_NONE = 0,
	/* request "()"; reply "a{sv}": nodename (s), mode (s: "local",
	 * "standalone" or "cluster"), pid (u), starttime (t, unix seconds),
	 * version (t, the tree's global version), quorate (b). */
	PROTO_CMD_STATUS = 1,
	/* request "(b)" debug logging on/off; reply "()". */
	PROTO_CMD_SET_DEBUG = 2,
};

#define PROTO_STATUS_REQUEST_TYPE "()"
#define PROTO_STATUS_REPLY_TYPE "a{sv}"
#define PROTO_SET_DEBUG_REQUEST_TYPE "(b)"
#define PROTO_SET_DEBUG_REPLY_TYPE "()"

typedef struct {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t length;
	uint32_t request_id;
	int32_t status;
} proto_header_t;

#define PROTO_ERROR (proto_error_quark())

typedef enum {
	PROTO_ERROR_TRUNCATED,	 /* fewer bytes than the header or its length say */
	PROTO_ERROR_BAD_MAGIC,	 /* not a frame of this protocol */
	PROTO_ERROR_VERSION,	 /* another protocol version */
	PROTO_ERROR_TOO_LARGE,	 /* length over PROTO_MAX_PAYLOAD */
	PROTO_ERROR_TRAILING,	 /* bytes after the frame */
	PROTO_ERROR_BAD_PAYLOAD, /* payload is not a normal-form GVariant of the type */
	PROTO_ERROR_INVALID,	 /* unknown flags, or a reply that does not match */
	PROTO_ERROR_NOT_RUNNING, /* no socket, or nobody listening on it */
	PROTO_ERROR_IO,		 /* any other system error; the message has strerror */
	PROTO_ERROR_TIMEOUT,	 /* no complete reply in time */
	PROTO_ERROR_CLOSED,	 /* the peer closed before the reply was complete */
	PROTO_ERROR_REFUSED,	 /* the server turned the connection away (PROTO_CMD_NONE) */
} proto_error_t;

GQuark proto_error_quark(void);

/* The negative errno a server answers a frame that failed to decode with. */
int proto_error_errno(const GError *err);

/* Serializes one frame. payload may be NULL (error replies: length 0); a
 * floating payload is consumed. Fails with PROTO_ERROR_TOO_LARGE past
 * PROTO_MAX_PAYLOAD. */
GBytes *proto_encode(uint16_t type, uint32_t flags, uint32_t request_id, int32_t status,
		     GVariant *payload, GError **err);

/* Decodes and checks a header from the first PROTO_HEADER_SIZE bytes of buf:
 * magic first, then version, then flags and length against the maximum, so
 * a caller can refuse a frame before allocating for its payload. On
 * PROTO_ERROR_VERSION, hdr->version holds the peer's version. */
gboolean proto_header_decode(const void *buf, size_t len, proto_header_t *hdr, GError **err);

/* Deserializes a payload of exactly len bytes as type; the bytes are copied.
 * Returns a new reference, or NULL with PROTO_ERROR_BAD_PAYLOAD when the
 * bytes are not the normal form of a value of that type. */
GVariant *proto_payload_decode(const void *buf, size_t len, const char *type, GError **err);

/* Decodes one whole frame that must fill buf exactly. *payload is NULL for a
 * frame without payload, else a value of payload_type. */
gboolean proto_decode(const void *buf, size_t len, const char *payload_type, proto_header_t *hdr,
		      GVariant **payload, GError **err);

/* Connects to the UNIX socket at path, sends one request and reads its reply
 * within timeout_ms. Returns TRUE once a valid reply arrived: *status is its
 * status and, when that is 0, *reply a new reference of reply_type. Returns
 * FALSE with err (every message names the socket path) when the daemon is
 * not there (PROTO_ERROR_NOT_RUNNING), on other system errors, on timeout,
 * and when the reply is malformed or of another protocol version
 * (PROTO_ERROR_VERSION, "incompatible pvecm and pmxcfsd (protocol X vs Y)",
 * X being ours). request is required; a floating one is consumed. */
gboolean proto_call(const char *path, uint16_t type, GVariant *request, const char *reply_type,
		    int timeout_ms, int32_t *status, GVariant **reply, GError **err);

#endif
