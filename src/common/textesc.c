#include "textesc.h"

static void append_byte(GString *out, unsigned char c)
{
	if (c == '\t')
		g_string_append(out, "\\t");
	else if (c == '\r')
		g_string_append(out, "\\r");
	else
		g_string_append_printf(out, "\\x%02x", c);
}

void textesc_append(GString *out, const char *s, size_t len, bool keep_newline)
{
	const char *p = s, *end = s + len;

	while (p < end) {
		unsigned char c = (unsigned char)*p;
		gunichar u;

		if (c < 0x80) {
			if ((c < 0x20 && !(c == '\n' && keep_newline)) || c == 0x7f)
				append_byte(out, c);
			else
				g_string_append_c(out, (char)c);
			p++;
			continue;
		}
		/* Decoded one character at a time: a bad byte in the middle
		 * does not cost the valid text around it. */
		u = g_utf8_get_char_validated(p, end - p);
		if (u == (gunichar)-1 || u == (gunichar)-2) {
			append_byte(out, c);
			p++;
			continue;
		}
		if (u >= 0x80 && u <= 0x9f)
			g_string_append_printf(out, "\\u%04x", u);
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
		p = g_utf8_next_char(p);
	}
}

char *textesc(const char *s, size_t len, bool keep_newline)
{
	GString *out = g_string_sized_new(len + 1);

	textesc_append(out, s, len, keep_newline);
	return g_string_free(out, FALSE);
}
