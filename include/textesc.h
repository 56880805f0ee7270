/* Text from elsewhere (a peer's node name, a remote command's output) made
 * safe to print on a terminal or to hand to syslog: control characters
 * cannot move the cursor, retitle the window or forge a log line. */
#ifndef PVECM_TEXTESC_H
#define PVECM_TEXTESC_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Appends len bytes of s to out with every control character escaped:
 * C0 and DEL as \t, \r or \xNN, C1 (U+0080-U+009F) as \u00NN, a byte that
 * is not part of valid UTF-8 as \xNN. A newline stays as it is when
 * keep_newline. Everything else, backslashes included, is copied. */
void textesc_append(GString *out, const char *s, size_t len, bool keep_newline);

/* The same into a new string; s may hold NULs. */
char *textesc(const char *s, size_t len, bool keep_newline);

#endif
