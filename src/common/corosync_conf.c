/* corosync.conf as a tree of items (see corosync_conf.h).
 *
 * The parser reads lines the way corosync 3.1's own does
 * (exec/coroparse.c), so that a file we accept is one corosync accepts
 * and an error points at the line corosync would name: a line whose first
 * non-blank is '#' is a comment; else a line with a '{' opens a section,
 * else one with a ':' is a pair, else one with a '}' closes a section;
 * anything else is an error. Blanks are spaces and tabs, a '\r' before
 * the newline is dropped. Only whole lines are comments: corosync keeps
 * "a: b # c" as the value "b # c". */
#include "corosync_conf.h"

#include "fileio.h"
#include "nodeinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netdb.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* corosync reads a line with fgets into 512 bytes: what does not fit
 * with its newline and the NUL is "Line too long". */
#define LINE_MAX_LEN 510
/* corosync refuses a section or key when the cmap path it makes, its
 * parent's path + '.' + its name, would reach ICMAP_KEYNAME_MAXLEN; and
 * cmap refuses to store a key shorter than ICMAP_KEYNAME_MINLEN, which
 * only a key at the top level can be. */
#define CMAP_PATH_MAX 256
#define CMAP_KEY_MIN 3
/* pmxcfsd keeps at most 1 MiB per file: a bigger corosync.conf cannot
 * come from /etc/pve and is not read whole into memory. */
#define MAX_FILE_SIZE (1024 * 1024)
#define DEFAULT_FILENAME "corosync.conf"

GQuark corosync_conf_error_quark(void)
{
	return g_quark_from_static_string("corosync-conf-error-quark");
}

/* Items */

static void item_free(gpointer p)
{
	corosync_conf_item_t *it = p;

	if (!it)
		return;
	g_free(it->name);
	g_free(it->value);
	if (it->items)
		g_ptr_array_unref(it->items);
	g_free(it);
}

static corosync_conf_item_t *item_new(corosync_conf_kind_t kind, const char *name,
				      const char *value, unsigned line)
{
	corosync_conf_item_t *it = g_new0(corosync_conf_item_t, 1);

	it->kind = kind;
	it->name = g_strdup(name);
	it->value = g_strdup(value);
	if (kind == COROSYNC_CONF_SECTION)
		it->items = g_ptr_array_new_with_free_func(item_free);
	it->line = line;
	return it;
}

static bool is_section(const corosync_conf_item_t *it)
{
	return it && it->kind == COROSYNC_CONF_SECTION && it->items;
}

corosync_conf_t *corosync_conf_new(void)
{
	corosync_conf_t *conf = g_new0(corosync_conf_t, 1);

	conf->root = item_new(COROSYNC_CONF_SECTION, NULL, NULL, 0);
	return conf;
}

void corosync_conf_free(corosync_conf_t *conf)
{
	if (!conf)
		return;
	item_free(conf->root);
	g_free(conf);
}

static corosync_conf_item_t *find_kind(const corosync_conf_item_t *section,
				       corosync_conf_kind_t kind, const char *name)
{
	if (!is_section(section) || !name)
		return NULL;
	for (guint i = 0; i < section->items->len; i++) {
		corosync_conf_item_t *it = g_ptr_array_index(section->items, i);
		if (it->kind == kind && g_strcmp0(it->name, name) == 0 &&
		    (kind != COROSYNC_CONF_SECTION || it->items))
			return it;
	}
	return NULL;
}

corosync_conf_item_t *corosync_conf_find_section(const corosync_conf_item_t *section,
						 const char *name)
{
	return find_kind(section, COROSYNC_CONF_SECTION, name);
}

const char *corosync_conf_find_value(const corosync_conf_item_t *section, const char *key)
{
	corosync_conf_item_t *it = find_kind(section, COROSYNC_CONF_PAIR, key);

	return it ? (it->value ? it->value : "") : NULL;
}

/* Validity */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_cmap_char(char c)
{
	return g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == ':';
}

bool corosync_conf_valid_name(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!is_cmap_char(*p) || *p == ':')
			return false;
	return true;
}

/* A section may carry a ':' inside its name ("a:b {" is the section
 * "a:b" for corosync), not at the end: corosync strips that one. */
static bool valid_section_name(const char *name)
{
	if (!name || !*name || name[strlen(name) - 1] == ':')
		return false;
	for (const char *p = name; *p; p++)
		if (!is_cmap_char(*p))
			return false;
	return true;
}

bool corosync_conf_valid_value(const char *value)
{
	if (!value)
		return false;
	if (strpbrk(value, "\n\r{"))
		return false;
	size_t n = strlen(value);
	return n == 0 || (!is_blank(value[0]) && !is_blank(value[n - 1]));
}

/* A comment's text is everything after the '#', its trailing blanks
 * dropped as corosync drops them from every line. */
static bool valid_comment(const char *text)
{
	if (!text || strpbrk(text, "\n\r"))
		return false;
	size_t n = strlen(text);
	return n == 0 || !is_blank(text[n - 1]);
}

/* Set and remove */

void corosync_conf_set_value(corosync_conf_item_t *section, const char *key, const char *value)
{
	g_return_if_fail(is_section(section));
	g_return_if_fail(corosync_conf_valid_name(key));
	g_return_if_fail(corosync_conf_valid_value(value));

	corosync_conf_item_t *it = find_kind(section, COROSYNC_CONF_PAIR, key);
	if (it) {
		g_free(it->value);
		it->value = g_strdup(value);
		return;
	}
	g_ptr_array_add(section->items, item_new(COROSYNC_CONF_PAIR, key, value, 0));
}

bool corosync_conf_remove_value(corosync_conf_item_t *section, const char *key)
{
	bool found = false;

	if (!is_section(section) || !key)
		return false;
	for (guint i = section->items->len; i-- > 0;) {
		corosync_conf_item_t *it = g_ptr_array_index(section->items, i);
		if (it->kind == COROSYNC_CONF_PAIR && g_strcmp0(it->name, key) == 0) {
			g_ptr_array_remove_index(section->items, i);
			found = true;
		}
	}
	return found;
}

corosync_conf_item_t *corosync_conf_add_section(corosync_conf_item_t *section, const char *name)
{
	g_return_val_if_fail(is_section(section), NULL);
	g_return_val_if_fail(corosync_conf_valid_name(name), NULL);

	corosync_conf_item_t *it = item_new(COROSYNC_CONF_SECTION, name, NULL, 0);
	g_ptr_array_add(section->items, it);
	return it;
}

bool corosync_conf_remove_item(corosync_conf_item_t *section, corosync_conf_item_t *item)
{
	if (!is_section(section) || !item)
		return false;
	return g_ptr_array_remove(section->items, item);
}

/* Dotted paths */

/* The section a dotted path's last part lives in: the first section of
 * each name on the way, created when CREATE is set. */
static corosync_conf_item_t *path_section(corosync_conf_item_t *root, char **parts, guint n,
					  bool create)
{
	corosync_conf_item_t *sec = root;

	for (guint i = 0; i + 1 < n && sec; i++) {
		corosync_conf_item_t *next = corosync_conf_find_section(sec, parts[i]);
		if (!next && create)
			next = corosync_conf_add_section(sec, parts[i]);
		sec = next;
	}
	return sec;
}

const char *corosync_conf_get(const corosync_conf_t *conf, const char *path)
{
	if (!conf || !path)
		return NULL;
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);
	guint n = g_strv_length(parts);
	if (n == 0)
		return NULL;
	corosync_conf_item_t *sec = path_section(conf->root, parts, n, false);
	return corosync_conf_find_value(sec, parts[n - 1]);
}

/* A decimal number made of digits only: corosync's strtoull would also
 * take "+1", " 1" or "-1" (as 2^64 - 1), which no one means. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (!g_ascii_isdigit(*p))
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool corosync_conf_get_uint(const corosync_conf_t *conf, const char *path, uint64_t *out)
{
	uint64_t v;

	if (!parse_uint(corosync_conf_get(conf, path), G_MAXUINT64, &v))
		return false;
	if (out)
		*out = v;
	return true;
}

void corosync_conf_set(corosync_conf_t *conf, const char *path, const char *value)
{
	g_return_if_fail(conf && conf->root && path);
	g_return_if_fail(corosync_conf_valid_value(value));
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);
	guint n = g_strv_length(parts);
	g_return_if_fail(n > 0);
	for (guint i = 0; i < n; i++)
		g_return_if_fail(corosync_conf_valid_name(parts[i]));

	corosync_conf_item_t *sec = path_section(conf->root, parts, n, true);
	corosync_conf_set_value(sec, parts[n - 1], value);
}

/* Parser */

typedef struct {
	const char *filename;
	GPtrArray *open;  /* corosync_conf_item_t*: the sections open, root first */
	GArray *path_len; /* gsize: the length of each open section's cmap path */
} parser_t;

static void G_GNUC_PRINTF(4, 5)
    parse_error(GError **err, const parser_t *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_PARSE, "%s:%u: expected %s",
		    p->filename, line, what);
}

static corosync_conf_item_t *current(const parser_t *p)
{
	return g_ptr_array_index(p->open, p->open->len - 1);
}

/* corosync's check: parent path + '.' + name must stay below the limit
 * (at the top the '.' is counted too, as corosync does). */
static bool path_fits(const parser_t *p, const char *name)
{
	gsize parent = g_array_index(p->path_len, gsize, p->path_len->len - 1);
	return parent + strlen(name) + 1 < CMAP_PATH_MAX;
}

static gsize child_path_len(const parser_t *p, const char *name)
{
	gsize parent = g_array_index(p->path_len, gsize, p->path_len->len - 1);
	return parent ? parent + 1 + strlen(name) : strlen(name);
}

static void rtrim(char *s, const char *chars)
{
	size_t n = strlen(s);

	while (n > 0 && strchr(chars, s[n - 1]))
		s[--n] = '\0';
}

static char *skip_blanks(char *s)
{
	return s + strspn(s, " \t");
}

static bool open_section(parser_t *p, char *s, char *brace, unsigned line, GError **err)
{
	*brace = '\0';
	/* corosync strips blanks and ':' before the '{': "totem: {" opens
	 * totem */
	rtrim(s, " \t:");
	if (!*s) {
		parse_error(err, p, line, "a section name before '{'");
		return false;
	}
	if (*skip_blanks(brace + 1)) {
		parse_error(err, p, line, "a line break after '%s {'", s);
		return false;
	}
	if (!valid_section_name(s)) {
		parse_error(
		    err, p, line,
		    "a section name of letters, digits, '_', '-', '.', '/' or ':', not '%s'", s);
		return false;
	}
	if (!path_fits(p, s)) {
		parse_error(
		    err, p, line,
		    "a shorter section name: corosync's cmap paths stay below %d characters",
		    CMAP_PATH_MAX);
		return false;
	}
	corosync_conf_item_t *sec = item_new(COROSYNC_CONF_SECTION, s, NULL, line);
	gsize len = child_path_len(p, s);
	g_ptr_array_add(current(p)->items, sec);
	g_ptr_array_add(p->open, sec);
	g_array_append_val(p->path_len, len);
	return true;
}

static bool add_pair(parser_t *p, char *s, char *colon, unsigned line, GError **err)
{
	*colon = '\0';
	rtrim(s, " \t");
	const char *value = skip_blanks(colon + 1);
	if (!*s) {
		parse_error(err, p, line, "a key name before ':'");
		return false;
	}
	/* corosync's parser takes any key, but cmap then refuses it */
	if (!corosync_conf_valid_name(s)) {
		parse_error(err, p, line,
			    "a key name of letters, digits, '_', '-', '.' or '/', not '%s'", s);
		return false;
	}
	if (!path_fits(p, s)) {
		parse_error(err, p, line,
			    "a shorter key name: corosync's cmap paths stay below %d characters",
			    CMAP_PATH_MAX);
		return false;
	}
	if (child_path_len(p, s) < CMAP_KEY_MIN) {
		parse_error(err, p, line,
			    "a key name of at least %d characters at the top level, not '%s': "
			    "corosync's cmap refuses shorter ones",
			    CMAP_KEY_MIN, s);
		return false;
	}
	g_ptr_array_add(current(p)->items, item_new(COROSYNC_CONF_PAIR, s, value, line));
	return true;
}

static bool close_section(parser_t *p, const char *s, unsigned line, GError **err)
{
	if (strcmp(s, "}") != 0) {
		parse_error(err, p, line, "'}' alone on its line, not '%s'", s);
		return false;
	}
	if (p->open->len == 1) {
		parse_error(err, p, line,
			    "'key: value' or 'section {', not '}': no section is open here");
		return false;
	}
	g_ptr_array_set_size(p->open, p->open->len - 1);
	g_array_set_size(p->path_len, p->path_len->len - 1);
	return true;
}

/* LINE holds one line without its newline, its trailing blanks dropped. */
static bool parse_line(parser_t *p, char *line, unsigned lineno, GError **err)
{
	char *s = skip_blanks(line);
	char *c;

	if (!*s)
		return true;
	if (*s == '#') {
		g_ptr_array_add(current(p)->items,
				item_new(COROSYNC_CONF_COMMENT, s + 1, NULL, lineno));
		return true;
	}
	if ((c = strchr(s, '{')))
		return open_section(p, s, c, lineno, err);
	if ((c = strchr(s, ':')))
		return add_pair(p, s, c, lineno, err);
	if (strchr(s, '}'))
		return close_section(p, s, lineno, err);
	parse_error(err, p, lineno, "'key: value', 'section {' or '}', not '%s'", s);
	return false;
}

static bool parse_text(parser_t *p, const char *text, size_t len, GError **err)
{
	const char *pos = text, *end = text + len;
	unsigned lineno = 0;
	char buf[LINE_MAX_LEN + 1];

	while (pos < end) {
		const char *nl = memchr(pos, '\n', (size_t)(end - pos));
		size_t n = (size_t)((nl ? nl : end) - pos);

		lineno++;
		if (memchr(pos, '\0', n)) {
			parse_error(err, p, lineno, "text, not a NUL byte");
			return false;
		}
		if (n > LINE_MAX_LEN) {
			parse_error(err, p, lineno,
				    "a line of at most %d characters (corosync's limit), not %zu",
				    LINE_MAX_LEN, n);
			return false;
		}
		memcpy(buf, pos, n);
		buf[n] = '\0';
		/* corosync trims every white space character at the end, a CR
		 * of a CRLF line end among them; trimming only one CR left
		 * the others for the writer to lose a pass later. */
		rtrim(buf, " \t\r\v\f");
		if (!parse_line(p, buf, lineno, err))
			return false;
		pos = nl ? nl + 1 : end;
	}
	if (p->open->len > 1) {
		const corosync_conf_item_t *sec = current(p);
		parse_error(err, p, lineno, "'}' to close section '%s' opened at line %u",
			    sec->name, sec->line);
		return false;
	}
	return true;
}

corosync_conf_t *corosync_conf_parse(const char *text, gssize len, const char *filename,
				     GError **err)
{
	g_return_val_if_fail(text != NULL, NULL);

	g_autoptr(corosync_conf_t) conf = corosync_conf_new();
	gsize zero = 0;
	parser_t p = {
	    .filename = filename ? filename : DEFAULT_FILENAME,
	    .open = g_ptr_array_new(),
	    .path_len = g_array_new(FALSE, FALSE, sizeof(gsize)),
	};
	g_ptr_array_add(p.open, conf->root);
	g_array_append_val(p.path_len, zero);

	bool ok = parse_text(&p, text, len < 0 ? strlen(text) : (size_t)len, err);
	g_ptr_array_unref(p.open);
	g_array_unref(p.path_len);
	return ok ? g_steal_pointer(&conf) : NULL;
}

/* Reading and writing files */

static void G_GNUC_PRINTF(3, 4) set_io_error(GError **err, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_IO, "%s: %s", what,
		    g_strerror(errnum));
}

static char *read_file(const char *path, size_t *len, GError **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		set_io_error(err, errno, "cannot open %s", path);
		return NULL;
	}
	GString *buf = g_string_sized_new(4096);
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf->len + (size_t)n > MAX_FILE_SIZE) {
			int e = n < 0 ? errno : EFBIG;
			set_io_error(err, e, "cannot read %s", path);
			close(fd);
			g_string_free(buf, TRUE);
			return NULL;
		}
		g_string_append_len(buf, chunk, n);
	}
	close(fd);
	*len = buf->len;
	return g_string_free(buf, FALSE);
}

corosync_conf_t *corosync_conf_load(const char *path, GError **err)
{
	g_return_val_if_fail(path != NULL, NULL);
	size_t len;
	g_autofree char *text = read_file(path, &len, err);

	if (!text)
		return NULL;
	return corosync_conf_parse(text, (gssize)len, path, err);
}

/* The writer's layout: two spaces per level; at the top, a blank line
 * around each section, a comment block right above a section staying
 * with it. Blank lines are not kept by the parser, so this layout alone
 * decides them and writing what was parsed changes nothing. */
static bool blank_before(const GPtrArray *items, guint i)
{
	const corosync_conf_item_t *prev = g_ptr_array_index(items, i - 1);
	const corosync_conf_item_t *cur = g_ptr_array_index(items, i);

	if (prev->kind == COROSYNC_CONF_SECTION)
		return true;
	if (cur->kind == COROSYNC_CONF_SECTION)
		return prev->kind != COROSYNC_CONF_COMMENT;
	if (cur->kind != COROSYNC_CONF_COMMENT || prev->kind == COROSYNC_CONF_COMMENT)
		return false;
	for (guint j = i + 1; j < items->len; j++) {
		const corosync_conf_item_t *next = g_ptr_array_index(items, j);
		if (next->kind != COROSYNC_CONF_COMMENT)
			return next->kind == COROSYNC_CONF_SECTION;
	}
	return false;
}

static void write_items(GString *out, const corosync_conf_item_t *section, unsigned depth)
{
	for (guint i = 0; i < section->items->len; i++) {
		const corosync_conf_item_t *it = g_ptr_array_index(section->items, i);
		const char *name = it->name ? it->name : "";

		if (depth == 0 && i > 0 && blank_before(section->items, i))
			g_string_append_c(out, '\n');
		for (unsigned d = 0; d < depth; d++)
			g_string_append(out, "  ");
		switch (it->kind) {
		case COROSYNC_CONF_SECTION:
			g_string_append_printf(out, "%s {\n", name);
			if (it->items)
				write_items(out, it, depth + 1);
			for (unsigned d = 0; d < depth; d++)
				g_string_append(out, "  ");
			g_string_append(out, "}\n");
			break;
		case COROSYNC_CONF_PAIR:
			/* "key:" rather than "key: " with a blank at the end */
			if (it->value && *it->value)
				g_string_append_printf(out, "%s: %s\n", name, it->value);
			else
				g_string_append_printf(out, "%s:\n", name);
			break;
		case COROSYNC_CONF_COMMENT:
			g_string_append_printf(out, "#%s\n", name);
			break;
		}
	}
}

char *corosync_conf_to_string(const corosync_conf_t *conf)
{
	GString *out = g_string_new(NULL);

	if (conf && is_section(conf->root))
		write_items(out, conf->root, 0);
	return g_string_free(out, FALSE);
}

static bool G_GNUC_PRINTF(3, 4) unwritable(GError **err, const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID,
		    "%s would not read back as written: %s", where, what);
	return false;
}

static bool check_items(const corosync_conf_item_t *section, const char *path, unsigned depth,
			GError **err)
{
	for (guint i = 0; i < section->items->len; i++) {
		const corosync_conf_item_t *it = g_ptr_array_index(section->items, i);
		const char *name = it->name ? it->name : "";
		g_autofree char *where =
		    *path ? g_strdup_printf("%s.%s", path, name) : g_strdup(name);
		size_t indent = 2 * depth;
		size_t width;

		switch (it->kind) {
		case COROSYNC_CONF_SECTION:
			if (!it->items || !valid_section_name(name))
				return unwritable(err, *path ? path : "the top level",
						  "section name '%s'", name);
			width = indent + strlen(name) + 2;
			break;
		case COROSYNC_CONF_PAIR:
			if (!corosync_conf_valid_name(name))
				return unwritable(err, *path ? path : "the top level",
						  "key name '%s'", name);
			if (strlen(where) < CMAP_KEY_MIN)
				return unwritable(
				    err, "the top level",
				    "key name '%s': corosync's cmap takes at least %d characters",
				    name, CMAP_KEY_MIN);
			if (!corosync_conf_valid_value(it->value ? it->value : ""))
				return unwritable(err, where,
						  "a line break, '{', or a blank at either end");
			width = indent + strlen(name) + 1;
			if (it->value && *it->value)
				width += 1 + strlen(it->value);
			break;
		case COROSYNC_CONF_COMMENT:
			if (!valid_comment(name))
				return unwritable(err, *path ? path : "the top level",
						  "comment '#%s'", name);
			width = indent + 1 + strlen(name);
			break;
		default:
			return unwritable(err, where, "an item of unknown kind %d", (int)it->kind);
		}
		if (width > LINE_MAX_LEN)
			return unwritable(err, where,
					  "its line would be %zu characters, corosync reads %d",
					  width, LINE_MAX_LEN);
		if (it->kind != COROSYNC_CONF_COMMENT &&
		    strlen(path) + strlen(name) + 1 >= CMAP_PATH_MAX)
			return unwritable(err, where,
					  "corosync's cmap paths stay below %d characters",
					  CMAP_PATH_MAX);
		if (it->kind == COROSYNC_CONF_SECTION && !check_items(it, where, depth + 1, err))
			return false;
	}
	return true;
}

bool corosync_conf_check_writable(const corosync_conf_t *conf, GError **err)
{
	if (!conf || !is_section(conf->root)) {
		g_set_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID,
			    "the configuration has no top level");
		return false;
	}
	return check_items(conf->root, "", 0, err);
}

/* Some file systems (FUSE ones among them) cannot sync a directory; the
 * rename is then as durable as they make it. */
static bool sync_dir(const char *dir, GError **err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		set_io_error(err, errno, "cannot open directory %s", dir);
		return false;
	}
	if (fsync(fd) < 0 && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
		int e = errno;
		close(fd);
		set_io_error(err, e, "cannot sync directory %s", dir);
		return false;
	}
	close(fd);
	return true;
}

/* Writes TEXT to the new file FD with MODE; errno is set on failure. */
static bool fill_tmp(int fd, const char *text, mode_t mode)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return false;
	if ((st.st_mode & 07777) != (mode & 07777) && fchmod(fd, mode & 07777) < 0)
		return false;
	return fileio_write_all(fd, text, strlen(text)) && fsync(fd) == 0;
}

bool corosync_conf_save(const corosync_conf_t *conf, const char *path, mode_t mode, GError **err)
{
	g_return_val_if_fail(path != NULL, false);

	if (!corosync_conf_check_writable(conf, err)) {
		g_prefix_error(err, "cannot write %s: ", path);
		return false;
	}
	g_autofree char *text = corosync_conf_to_string(conf);
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	/* beside the file, so that rename never crosses file systems; not a
	 * dot file, which /etc/pve keeps for its virtual files */
	g_autofree char *tmp = g_strdup_printf("%s/%s.tmp.XXXXXX", dir, base);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_io_error(err, errno, "cannot create a temporary file beside %s", path);
		return false;
	}
	bool ok = fill_tmp(fd, text, mode);
	int e = errno;
	if (close(fd) < 0 && ok) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		g_unlink(tmp);
		set_io_error(err, e, "cannot write %s (as %s)", path, tmp);
		return false;
	}
	if (rename(tmp, path) < 0) {
		e = errno;
		g_unlink(tmp);
		set_io_error(err, e, "cannot rename %s to %s", tmp, path);
		return false;
	}
	return sync_dir(dir, err);
}

/* Nodes */

void corosync_conf_node_free(corosync_conf_node_t *node)
{
	if (!node)
		return;
	g_free(node->name);
	for (int i = 0; i < COROSYNC_CONF_MAX_LINKS; i++)
		g_free(node->addr[i]);
	g_free(node);
}

static void node_free(gpointer p)
{
	corosync_conf_node_free(p);
}

static bool value_uint(const corosync_conf_item_t *section, const char *key, uint64_t max,
		       uint64_t *out)
{
	return parse_uint(corosync_conf_find_value(section, key), max, out);
}

/* The link number of a key "ringX_addr", or -1 for any other key. */
static int ring_key_link(const char *key)
{
	uint64_t x;

	if (!g_str_has_prefix(key, "ring") || !g_str_has_suffix(key, "_addr"))
		return -1;
	size_t n = strlen(key) - strlen("ring") - strlen("_addr");
	/* "ring01_addr" is no key corosync looks for */
	if (n == 0 || n > 3 || (n > 1 && key[strlen("ring")] == '0'))
		return -1;
	char digits[4];
	memcpy(digits, key + strlen("ring"), n);
	digits[n] = '\0';
	return parse_uint(digits, 999, &x) ? (int)x : -1;
}

GPtrArray *corosync_conf_nodes(const corosync_conf_t *conf)
{
	GPtrArray *nodes = g_ptr_array_new_with_free_func(node_free);
	const corosync_conf_item_t *nodelist =
	    conf ? corosync_conf_find_section(conf->root, "nodelist") : NULL;

	if (!nodelist)
		return nodes;
	for (guint i = 0; i < nodelist->items->len; i++) {
		corosync_conf_item_t *it = g_ptr_array_index(nodelist->items, i);
		if (!is_section(it) || g_strcmp0(it->name, "node") != 0)
			continue;
		corosync_conf_node_t *node = g_new0(corosync_conf_node_t, 1);
		uint64_t v;
		node->item = it;
		node->name = g_strdup(corosync_conf_find_value(it, "name"));
		node->nodeid = value_uint(it, "nodeid", G_MAXUINT32, &v) ? (uint32_t)v : 0;
		node->votes = value_uint(it, "quorum_votes", G_MAXUINT32, &v) ? (uint32_t)v : 1;
		for (int x = 0; x < COROSYNC_CONF_MAX_LINKS; x++) {
			char key[16];
			g_snprintf(key, sizeof(key), "ring%d_addr", x);
			node->addr[x] = g_strdup(corosync_conf_find_value(it, key));
		}
		g_ptr_array_add(nodes, node);
	}
	return nodes;
}

corosync_conf_node_t *corosync_conf_find_node(GPtrArray *nodes, const char *name)
{
	for (guint i = 0; i < nodes->len; i++) {
		corosync_conf_node_t *n = nodes->pdata[i];
		if (g_strcmp0(n->name, name) == 0)
			return n;
	}
	return NULL;
}

uint64_t corosync_conf_version(const corosync_conf_t *conf)
{
	uint64_t v;

	return corosync_conf_get_uint(conf, "totem.config_version", &v) ? v : 0;
}

/* Validation */

static bool G_GNUC_PRINTF(4, 5)
    invalid(GError **err, const char *filename, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line)
		g_set_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID, "%s:%u: %s",
			    filename, line, what);
	else
		g_set_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID, "%s: %s",
			    filename, what);
	return false;
}

/* " (line N)" to point at another item, or nothing for one built in
 * memory */
static char *at_line(unsigned line)
{
	return line ? g_strdup_printf(" (line %u)", line) : g_strdup("");
}

/* Where the first of two items is: "at line N", or "above" for one built
 * in memory */
static char *first_at(unsigned line)
{
	return line ? g_strdup_printf("at line %u", line) : g_strdup("above");
}

/* The line of pair KEY in SECTION, or the section's own line. */
static unsigned line_of(const corosync_conf_item_t *section, const char *key)
{
	const corosync_conf_item_t *it = find_kind(section, COROSYNC_CONF_PAIR, key);

	return it && it->line ? it->line : section->line;
}

static char *node_label(const corosync_conf_item_t *node, guint index)
{
	const char *name = corosync_conf_find_value(node, "name");
	const char *id = corosync_conf_find_value(node, "nodeid");

	if (name)
		return g_strdup_printf("node '%s'", name);
	if (id)
		return g_strdup_printf("the node with nodeid %s", id);
	return g_strdup_printf("node #%u of the nodelist", index + 1);
}

/* corosync reads a second totem or quorum section over the first, key by
 * key, and numbers the nodes of a second nodelist from 0 again, over the
 * first's; we would read and change only the first. */
static bool check_unique_sections(const corosync_conf_t *conf, const char *filename, GError **err)
{
	static const char *const unique[] = {"totem", "nodelist", "quorum"};

	for (size_t u = 0; u < G_N_ELEMENTS(unique); u++) {
		const corosync_conf_item_t *first =
		    corosync_conf_find_section(conf->root, unique[u]);
		if (!first)
			continue;
		for (guint i = 0; i < conf->root->items->len; i++) {
			const corosync_conf_item_t *it = g_ptr_array_index(conf->root->items, i);
			if (it == first || !is_section(it) || strcmp(it->name, unique[u]) != 0)
				continue;
			g_autofree char *at = first_at(first->line);
			return invalid(err, filename, it->line,
				       "section '%s' appears again (first %s); keep one", unique[u],
				       at);
		}
	}
	return true;
}

static bool check_interfaces(const corosync_conf_item_t *totem, const char *filename, GError **err)
{
	bool seen[COROSYNC_CONF_MAX_LINKS] = {false};
	unsigned seen_line[COROSYNC_CONF_MAX_LINKS] = {0};

	for (guint i = 0; i < totem->items->len; i++) {
		const corosync_conf_item_t *it = g_ptr_array_index(totem->items, i);
		if (!is_section(it) || strcmp(it->name, "interface") != 0)
			continue;
		/* corosync takes link 0 for an interface that names none */
		const char *value = corosync_conf_find_value(it, "linknumber");
		uint64_t link = 0;
		if (value && !parse_uint(value, COROSYNC_CONF_MAX_LINKS - 1, &link))
			return invalid(
			    err, filename, line_of(it, "linknumber"),
			    "interface linknumber '%s' is not a link number from 0 to %d", value,
			    COROSYNC_CONF_MAX_LINKS - 1);
		unsigned line = value ? line_of(it, "linknumber") : it->line;
		if (seen[link]) {
			g_autofree char *at = first_at(seen_line[link]);
			return invalid(err, filename, line,
				       "interface linknumber %u appears again (first %s)",
				       (unsigned)link, at);
		}
		seen[link] = true;
		seen_line[link] = line;
	}
	return true;
}

static bool check_totem(const corosync_conf_t *conf, const char *filename, GError **err)
{
	const corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");
	uint64_t v;

	if (!totem)
		return invalid(err, filename, 0, "no 'totem' section");
	const char *name = corosync_conf_find_value(totem, "cluster_name");
	if (!name || !*name)
		return invalid(err, filename, line_of(totem, "cluster_name"),
			       "section 'totem' has no cluster_name");
	const char *version = corosync_conf_find_value(totem, "config_version");
	if (!version)
		return invalid(err, filename, totem->line, "section 'totem' has no config_version");
	if (!parse_uint(version, G_MAXUINT64, &v))
		return invalid(err, filename, line_of(totem, "config_version"),
			       "totem.config_version '%s' is not a number", version);
	return check_interfaces(totem, filename, err);
}

/* Checks one node on its own; MASK gets its ringX_addr links. */
static bool check_node(const corosync_conf_item_t *node, const char *label, const char *filename,
		       unsigned *mask, GError **err)
{
	const char *id = corosync_conf_find_value(node, "nodeid");
	const char *votes = corosync_conf_find_value(node, "quorum_votes");
	uint64_t v;

	if (!id)
		return invalid(err, filename, node->line, "%s has no nodeid", label);
	if (!parse_uint(id, G_MAXUINT32, &v) || v == 0)
		return invalid(err, filename, line_of(node, "nodeid"),
			       "%s has nodeid '%s'; expected a number from 1 to %u", label, id,
			       G_MAXUINT32);
	const char *name = corosync_conf_find_value(node, "name");
	g_autoptr(GError) bad = NULL;
	if (!name)
		return invalid(err, filename, node->line, "%s has no name", label);
	/* The name becomes a path (nodes/NAME) on every node. */
	if (!nodeinfo_check_name("node", name, NODEINFO_NAME_MAX, &bad))
		return invalid(err, filename, line_of(node, "name"), "%s: %s", label, bad->message);
	if (!corosync_conf_find_value(node, "ring0_addr"))
		return invalid(err, filename, node->line, "%s has no ring0_addr", label);
	if (votes && !parse_uint(votes, G_MAXUINT32, &v))
		return invalid(err, filename, line_of(node, "quorum_votes"),
			       "%s has quorum_votes '%s'; expected a number", label, votes);
	*mask = 0;
	for (guint i = 0; i < node->items->len; i++) {
		const corosync_conf_item_t *it = g_ptr_array_index(node->items, i);
		int link = it->kind == COROSYNC_CONF_PAIR ? ring_key_link(it->name) : -1;
		if (link < 0)
			continue;
		if (link >= COROSYNC_CONF_MAX_LINKS)
			return invalid(err, filename, it->line ? it->line : node->line,
				       "%s has %s; corosync has links 0 to %d", label, it->name,
				       COROSYNC_CONF_MAX_LINKS - 1);
		*mask |= 1u << link;
	}
	return true;
}

static char *links_text(unsigned mask)
{
	GString *s = g_string_new(NULL);

	for (int x = 0; x < COROSYNC_CONF_MAX_LINKS; x++)
		if (mask & (1u << x))
			g_string_append_printf(s, "%s%d", s->len ? "," : "", x);
	return g_string_free(s, FALSE);
}

typedef struct {
	const corosync_conf_item_t *item;
	char *label;
	unsigned mask;
} seen_node_t;

static void seen_node_clear(gpointer p)
{
	g_free(((seen_node_t *)p)->label);
}

/* Checks node N against the ones before it, in SEEN. */
static bool check_node_against(const GArray *seen, const seen_node_t *n, const char *filename,
			       GError **err)
{
	const char *id = corosync_conf_find_value(n->item, "nodeid");
	const char *name = corosync_conf_find_value(n->item, "name");

	for (guint j = 0; j < seen->len; j++) {
		const seen_node_t *o = &g_array_index(seen, seen_node_t, j);
		const char *oid = corosync_conf_find_value(o->item, "nodeid");
		uint64_t a = 0, b = 0;
		parse_uint(id, G_MAXUINT32, &a);
		parse_uint(oid, G_MAXUINT32, &b);
		if (a == b) {
			g_autofree char *at = at_line(line_of(o->item, "nodeid"));
			return invalid(err, filename, line_of(n->item, "nodeid"),
				       "%s has the same nodeid %s as %s%s", n->label, id, o->label,
				       at);
		}
		if (strcmp(name, corosync_conf_find_value(o->item, "name")) == 0) {
			g_autofree char *at = at_line(line_of(o->item, "name"));
			return invalid(
			    err, filename, line_of(n->item, "name"),
			    "node name '%s' of nodeid %s is already the name of nodeid %s%s", name,
			    id, oid, at);
		}
	}
	const seen_node_t *first = seen->len ? &g_array_index(seen, seen_node_t, 0) : NULL;
	if (first && first->mask != n->mask) {
		g_autofree char *mine = links_text(n->mask);
		g_autofree char *theirs = links_text(first->mask);
		g_autofree char *at = at_line(first->item->line);
		return invalid(err, filename, n->item->line,
			       "%s has links %s but %s%s has links %s; every node needs the same "
			       "ringX_addr keys",
			       n->label, mine, first->label, at, theirs);
	}
	return true;
}

static bool check_nodelist(const corosync_conf_t *conf, const char *filename, GError **err)
{
	const corosync_conf_item_t *nodelist = corosync_conf_find_section(conf->root, "nodelist");

	if (!nodelist)
		return invalid(err, filename, 0, "no 'nodelist' section");
	g_autoptr(GArray) seen = g_array_new(FALSE, TRUE, sizeof(seen_node_t));
	g_array_set_clear_func(seen, seen_node_clear);
	for (guint i = 0; i < nodelist->items->len; i++) {
		const corosync_conf_item_t *it = g_ptr_array_index(nodelist->items, i);
		if (!is_section(it) || strcmp(it->name, "node") != 0)
			continue;
		seen_node_t n = {.item = it, .label = node_label(it, seen->len)};
		if (!check_node(it, n.label, filename, &n.mask, err) ||
		    !check_node_against(seen, &n, filename, err)) {
			g_free(n.label);
			return false;
		}
		g_array_append_val(seen, n);
	}
	if (seen->len == 0)
		return invalid(err, filename, nodelist->line, "section 'nodelist' has no node");
	return true;
}

static bool check_quorum(const corosync_conf_t *conf, const char *filename, GError **err)
{
	const corosync_conf_item_t *quorum = corosync_conf_find_section(conf->root, "quorum");

	if (!quorum)
		return invalid(err, filename, 0, "no 'quorum' section");
	const char *provider = corosync_conf_find_value(quorum, "provider");
	if (!provider)
		return invalid(err, filename, quorum->line,
			       "section 'quorum' has no provider; expected corosync_votequorum");
	if (strcmp(provider, "corosync_votequorum") != 0)
		return invalid(err, filename, line_of(quorum, "provider"),
			       "quorum.provider '%s' is not corosync_votequorum", provider);
	return true;
}

bool corosync_conf_validate(const corosync_conf_t *conf, const char *filename, GError **err)
{
	g_return_val_if_fail(conf && is_section(conf->root), false);
	if (!filename)
		filename = DEFAULT_FILENAME;
	return check_unique_sections(conf, filename, err) && check_totem(conf, filename, err) &&
	       check_nodelist(conf, filename, err) && check_quorum(conf, filename, err);
}

/* Name resolution */

/* Why getaddrinfo failed, in the words of gai_strerror (or errno). */
static const char *resolve(const char *host)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);

	if (rc == 0) {
		freeaddrinfo(res);
		return NULL;
	}
	return rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc);
}

bool corosync_conf_check_resolvable(const corosync_conf_t *conf, const char *filename, GError **err)
{
	g_return_val_if_fail(conf != NULL, false);
	if (!filename)
		filename = DEFAULT_FILENAME;
	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);

	for (guint i = 0; i < nodes->len; i++) {
		const corosync_conf_node_t *node = g_ptr_array_index(nodes, i);
		for (int x = 0; x < COROSYNC_CONF_MAX_LINKS; x++) {
			const char *addr = node->addr[x];
			if (!addr || g_hostname_is_ip_address(addr))
				continue;
			const char *why = resolve(addr);
			if (!why)
				continue;
			char key[16];
			g_snprintf(key, sizeof(key), "ring%d_addr", x);
			g_autofree char *label = node_label(node->item, i);
			GError *e = NULL;
			invalid(&e, filename, line_of(node->item, key),
				"%s '%s' of %s does not resolve (%s) - corosync would fail with "
				"'nodelist or quorum.expected_votes must be configured'; use an IP "
				"address or fix name resolution",
				key, addr, label, why);
			e->code = COROSYNC_CONF_ERROR_RESOLVE;
			g_propagate_error(err, e);
			return false;
		}
	}
	return true;
}
