/*
 * msg.c: the JSON of the control protocol (docs/libcr-protocol.md). We
 * decode the few fields we use of the agent's Events and Replies and skip
 * the rest; we encode requests with snprintf and cri_quote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct parser {
	const char *p;
	int depth;
};

static void ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n')
		ps->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* put appends UTF-8 for code point cp to out, if it fits. */
static void put(char *out, size_t n, size_t *len, unsigned cp)
{
	char b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (char)cp, k = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), k = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f)), k = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), k = 4;
	}
	if (out && *len + k < n) {
		memcpy(out + *len, b, k);
		*len += k;
		out[*len] = 0;
	}
}

/* putb appends one byte of UTF-8 as it came. */
static void putb(char *out, size_t n, size_t *len, unsigned char c)
{
	if (out && *len + 1 < n) {
		out[(*len)++] = (char)c;
		out[*len] = 0;
	}
}

/* string reads a JSON string into out (n bytes; NULL: skip it). */
static int string(struct parser *ps, char *out, size_t n)
{
	size_t len = 0;
	if (out && n)
		out[0] = 0;
	if (*ps->p != '"')
		return -1;
	ps->p++;
	for (;;) {
		unsigned char c = (unsigned char)*ps->p++;
		if (c == 0)
			return -1;
		if (c == '"')
			return 0;
		if (c != '\\') {
			putb(out, n, &len, c); /* bytes of UTF-8 go through as they are */
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case 'n': put(out, n, &len, '\n'); break;
		case 't': put(out, n, &len, '\t'); break;
		case 'r': put(out, n, &len, '\r'); break;
		case 'b': put(out, n, &len, '\b'); break;
		case 'f': put(out, n, &len, '\f'); break;
		case '"': case '\\': case '/': put(out, n, &len, c); break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) {
				int h = hexval(*ps->p++);
				if (h < 0)
					return -1;
				cp = cp << 4 | (unsigned)h;
			}
			if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
				unsigned lo = 0;
				const char *q = ps->p + 2;
				for (int i = 0; i < 4; i++) {
					int h = hexval(*q++);
					if (h < 0)
						return -1;
					lo = lo << 4 | (unsigned)h;
				}
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					ps->p = q;
				}
			}
			put(out, n, &len, cp);
			break;
		}
		default:
			return -1;
		}
	}
}

static int value(struct parser *ps);

/* object calls field for each member of an object; field consumes the
 * value (or returns 1 to have it skipped). */
static int object(struct parser *ps, int (*field)(struct parser *, const char *, void *), void *arg)
{
	char key[64];
	if (*ps->p != '{' || ++ps->depth > 16)
		return -1;
	ps->p++;
	ws(ps);
	if (*ps->p == '}') {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		ws(ps);
		if (string(ps, key, sizeof key) < 0)
			return -1;
		ws(ps);
		if (*ps->p++ != ':')
			return -1;
		ws(ps);
		int r = field ? field(ps, key, arg) : 1;
		if (r < 0 || (r == 1 && value(ps) < 0))
			return -1;
		ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ != '}')
			return -1;
		ps->depth--;
		return 0;
	}
}

/* value skips any JSON value. */
static int value(struct parser *ps)
{
	ws(ps);
	switch (*ps->p) {
	case '"':
		return string(ps, NULL, 0);
	case '{':
		return object(ps, NULL, NULL);
	case '[':
		if (++ps->depth > 16)
			return -1;
		ps->p++;
		ws(ps);
		if (*ps->p == ']') {
			ps->p++;
			ps->depth--;
			return 0;
		}
		for (;;) {
			if (value(ps) < 0)
				return -1;
			ws(ps);
			if (*ps->p == ',') {
				ps->p++;
				continue;
			}
			if (*ps->p++ != ']')
				return -1;
			ps->depth--;
			return 0;
		}
	}
	const char *start = ps->p;
	while (*ps->p && strchr("+-.0123456789eEtruefalsn", *ps->p))
		ps->p++;
	return ps->p == start ? -1 : 0;
}

static int number(struct parser *ps, long long *v)
{
	char *end;
	*v = strtoll(ps->p, &end, 10);
	if (end == ps->p)
		return -1;
	ps->p = end;
	if (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')
		return -1; /* where we want an integer: a protocol error */
	return 0;
}

static int boolean(struct parser *ps, int *v)
{
	if (!strncmp(ps->p, "true", 4)) {
		*v = 1, ps->p += 4;
		return 0;
	}
	if (!strncmp(ps->p, "false", 5)) {
		*v = 0, ps->p += 5;
		return 0;
	}
	return -1;
}

static int reply_field(struct parser *ps, const char *k, void *arg)
{
	struct cri_reply *r = arg;
	long long v;
	r->present = 1;
	if (!strcmp(k, "id")) {
		if (number(ps, &v) < 0)
			return -1;
		r->id = (uint64_t)v;
		return 0;
	}
	if (!strcmp(k, "status") || !strcmp(k, "code")) {
		if (number(ps, &v) < 0)
			return -1;
		*(k[0] == 's' ? &r->status : &r->code) = (int)v;
		return 0;
	}
	if (!strcmp(k, "ok"))
		return boolean(ps, &r->ok);
	if (!strcmp(k, "want_fd"))
		return boolean(ps, &r->want_fd);
	if (!strcmp(k, "restarted"))
		return boolean(ps, &r->restarted);
	if (!strcmp(k, "error"))
		return string(ps, r->error, sizeof r->error);
	if (!strcmp(k, "path"))
		return string(ps, r->path, sizeof r->path);
	return 1;
}

static int event_field(struct parser *ps, const char *k, void *arg)
{
	struct cri_event *e = arg;
	long long v;
	int *ints[] = {&e->requester, &e->target, &e->signal, &e->status, &e->code};
	const char *names[] = {"requester", "target", "signal", "status", "code"};
	/* A bare Reply has ok, error, status, path: decode it as both. */
	if (!strcmp(k, "ok") || !strcmp(k, "want_fd")) {
		e->bare.present = 1;
		return reply_field(ps, k, &e->bare);
	}
	if (!strcmp(k, "ev"))
		return string(ps, e->ev, sizeof e->ev);
	if (!strcmp(k, "id")) {
		if (number(ps, &v) < 0)
			return -1;
		e->id = e->bare.id = (uint64_t)v;
		return 0;
	}
	for (int i = 0; i < 5; i++) {
		if (!strcmp(k, names[i])) {
			if (number(ps, &v) < 0)
				return -1;
			*ints[i] = (int)v;
			e->bare.status = e->status;
			e->bare.code = e->code;
			return 0;
		}
	}
	if (!strcmp(k, "scope"))
		return string(ps, e->scope, sizeof e->scope);
	if (!strcmp(k, "path")) {
		if (string(ps, e->path, sizeof e->path) < 0)
			return -1;
		memcpy(e->bare.path, e->path, sizeof e->path);
		return 0;
	}
	if (!strcmp(k, "error")) {
		if (string(ps, e->error, sizeof e->error) < 0)
			return -1;
		memcpy(e->bare.error, e->error, sizeof e->error);
		return 0;
	}
	if (!strcmp(k, "reply")) {
		if (!strncmp(ps->p, "null", 4)) {
			ps->p += 4;
			return 0;
		}
		e->reply.present = 1;
		return object(ps, reply_field, &e->reply);
	}
	return 1;
}

/* cri_decode reads one line into ev: 0, or -1 if it is not a JSON object. */
int cri_decode(const char *line, struct cri_event *ev)
{
	struct parser ps = {line, 0};
	memset(ev, 0, sizeof *ev);
	ws(&ps);
	if (object(&ps, event_field, ev) < 0)
		return -1;
	ws(&ps);
	return *ps.p ? -1 : 0;
}

/* cri_quote writes s as a JSON string into out; -1 if it does not fit. */
int cri_quote(char *out, size_t n, const char *s)
{
	size_t len = 0;
	if (n < 3)
		return -1;
	out[len++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		size_t k;
		if (c == '"' || c == '\\')
			esc[0] = '\\', esc[1] = (char)c, k = 2;
		else if (c < 0x20)
			k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
		else
			esc[0] = (char)c, k = 1;
		if (len + k + 2 > n)
			return -1;
		memcpy(out + len, esc, k);
		len += k;
	}
	out[len++] = '"';
	out[len] = 0;
	return 0;
}
