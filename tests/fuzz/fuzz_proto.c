/* Control-protocol frames as the daemon and pvecm read them: the header
 * decoder, whole frames with each command's payload types, and bare
 * payloads. A frame that decodes must encode back to the same bytes. */
#include "fuzz.h"
#include "proto.h"

#include <string.h>

static const char *const payload_types[] = {
    PROTO_STATUS_REQUEST_TYPE,
    PROTO_STATUS_REPLY_TYPE,
    PROTO_SET_DEBUG_REQUEST_TYPE,
    PROTO_SET_DEBUG_REPLY_TYPE,
    "(s)",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	return 0;
}

static void roundtrip(const uint8_t *data, size_t size, const char *type)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) payload = NULL;
	g_autoptr(GBytes) again = NULL;
	proto_header_t hdr;

	if (!proto_decode(data, size, type, &hdr, &payload, &err)) {
		if (!err || err->domain != PROTO_ERROR || proto_error_errno(err) >= 0)
			abort();
		return;
	}
	if (hdr.length > PROTO_MAX_PAYLOAD || size != PROTO_HEADER_SIZE + hdr.length)
		abort();
	again = proto_encode(hdr.type, hdr.flags, hdr.request_id, hdr.status,
			     payload ? g_variant_ref(payload) : NULL, NULL);
	if (!again || g_bytes_get_size(again) != size ||
	    memcmp(g_bytes_get_data(again, NULL), data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	proto_header_t hdr;

	if (proto_header_decode(data, size, &hdr, NULL) && hdr.length > PROTO_MAX_PAYLOAD)
		abort();
	for (size_t i = 0; i < G_N_ELEMENTS(payload_types); i++) {
		g_autoptr(GVariant) v = NULL;

		roundtrip(data, size, payload_types[i]);
		v = proto_payload_decode(data, size, payload_types[i], NULL);
		if (v && !g_variant_is_normal_form(v))
			abort();
	}
	return 0;
}
