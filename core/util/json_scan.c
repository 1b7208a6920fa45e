/* SPDX-License-Identifier: MIT */
/*
 * The one-pass JSON scanner (json_scan.h). Strings are decoded in place: an escape is never
 * shorter than what it decodes to, so the text written stays behind the text read, and the
 * closing quote becomes the NUL.
 */
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "util/json_scan.h"

/* Past this depth, or this many members in one object (duplicates are found pairwise), the
 * full parser judges. */
#define JS_MAX_DEPTH 64
#define JS_MAX_MEMBERS 512
/* Key comparisons for a whole document: thousands of objects of 511 members each would
 * otherwise cost a billion of them (a request that burns seconds of CPU); past this the full
 * parser, whose duplicate check is a hash table, judges. A push payload needs a few thousand. */
#define JS_MAX_DUP_WORK (1u << 18)

struct js {
    struct cm_jscan *doc;
    char *p;  /* the copy being read */
    size_t i; /* where */
    size_t len;
    size_t dup_left; /* key comparisons still allowed */
};

static void js_ws(struct js *s)
{
    while (s->i < s->len &&
           (s->p[s->i] == ' ' || s->p[s->i] == '\n' || s->p[s->i] == '\r' || s->p[s->i] == '\t'))
        s->i++;
}

static long js_tok(struct js *s, unsigned char type)
{
    struct cm_jscan *d = s->doc;
    if (d->n_tok == d->cap_tok) {
        size_t cap = d->cap_tok ? d->cap_tok * 2 : s->len / 16 + 16;
        struct cm_jscan_tok *t = realloc(d->tok, cap * sizeof(*t));
        if (!t)
            return -1;
        d->tok = t;
        d->cap_tok = cap;
    }
    d->tok[d->n_tok] = (struct cm_jscan_tok){type, 0, 0, 0, 0};
    return (long)d->n_tok++;
}

static int js_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0 (Unicode table 3-7:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t js_utf8(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (n < need + 1 || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if (p[k] < 0x80 || p[k] > 0xbf)
            return 0;
    return need + 1;
}

static size_t js_put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        w[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (char)(0xc0 | (cp >> 6));
        w[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (char)(0xe0 | (cp >> 12));
        w[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        w[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    w[0] = (char)(0xf0 | (cp >> 18));
    w[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    w[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    w[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* An escape after the backslash at s->i: decoded to w, s->i past it. 0 when not taken. */
static size_t js_escape(struct js *s, char *w)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned cp, lo;
    const char *e;

    if (s->i + 1 >= s->len)
        return 0;
    if (s->p[s->i + 1] != 'u') {
        if (!(e = memchr(from, s->p[s->i + 1], sizeof(from) - 1)))
            return 0;
        s->i += 2;
        *w = to[e - from];
        return 1;
    }
    if (s->i + 6 > s->len || !js_hex4(s->p + s->i + 2, &cp) || cp == 0 ||
        (cp >= 0xdc00 && cp <= 0xdfff))
        return 0;
    s->i += 6;
    if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair, or nothing */
        if (s->i + 6 > s->len || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u' ||
            !js_hex4(s->p + s->i + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
            return 0;
        s->i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return js_put_utf8(w, cp);
}

/* The string whose opening quote is at s->i; *len its decoded length. */
static long js_string(struct js *s, size_t *len)
{
    long t = js_tok(s, CM_JSCAN_STRING);
    size_t w = ++s->i, n;

    if (t < 0)
        return -1;
    s->doc->tok[t].off = (uint32_t)w;
    while (s->i < s->len) {
        unsigned char c = (unsigned char)s->p[s->i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            s->p[w++] = (char)c;
            s->i++;
            continue;
        }
        if (c == '"') {
            s->p[w] = '\0';
            *len = w - s->doc->tok[t].off;
            s->i++;
            return t;
        }
        if (c < 0x20)
            return -2;
        if (c == '\\') {
            if (!(n = js_escape(s, s->p + w)))
                return -2;
            w += n;
            continue;
        }
        if (!(n = js_utf8((const unsigned char *)s->p + s->i, s->len - s->i)))
            return -2;
        memmove(s->p + w, s->p + s->i, n);
        w += n;
        s->i += n;
    }
    return -2;
}

static long js_integer(struct js *s)
{
    size_t start = s->i, digits = 0;
    int neg = 0;
    long long v = 0;
    long t;

    if (s->p[s->i] == '-') {
        neg = 1;
        s->i++;
    }
    /* Digits past the 18th are only counted: the number goes to the full parser, and adding
     * them would overflow (undefined behaviour) before that is decided. */
    while (s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9') {
        if (++digits <= 18)
            v = v * 10 + (s->p[s->i] - '0');
        s->i++;
    }
    /* No digits, a leading zero, a real, or more digits than certainly fit: the full parser. */
    if (!digits || digits > 18 || (digits > 1 && s->p[start + neg] == '0') ||
        (s->i < s->len && (s->p[s->i] == '.' || s->p[s->i] == 'e' || s->p[s->i] == 'E')))
        return -2;
    if ((t = js_tok(s, CM_JSCAN_INTEGER)) >= 0)
        s->doc->tok[t].ival = neg ? -v : v;
    return t;
}

static long js_literal(struct js *s, const char *word, unsigned char type)
{
    size_t n = strlen(word);
    if (s->len - s->i < n || memcmp(s->p + s->i, word, n))
        return -2;
    s->i += n;
    return js_tok(s, type);
}

static long js_value(struct js *s, unsigned depth);

/* After a member or element: 0 at a comma (skipped, with the space after it), 1 at close
 * (skipped: the container ends), -2 at anything else. */
static long js_after(struct js *s, char close)
{
    js_ws(s);
    if (s->i < s->len && s->p[s->i] == ',') {
        s->i++;
        js_ws(s);
        return 0;
    }
    if (s->i < s->len && s->p[s->i] == close) {
        s->i++;
        return 1;
    }
    return -2;
}

/* Whether key token k (klen bytes) repeats a member key of object obj before it, or the
 * document has used up its comparisons (then the full parser judges it). */
static int js_duplicate(struct js *s, long obj, long k, size_t klen)
{
    const struct cm_jscan_tok *t = s->doc->tok;
    const char *key = s->p + t[k].off;
    for (long m = obj + 1; m < k; m = (long)t[m + 1].next) {
        const char *other = s->p + t[m].off;
        if (s->dup_left == 0)
            return 1;
        s->dup_left--;
        if (!memcmp(other, key, klen) && other[klen] == '\0')
            return 1;
    }
    return 0;
}

static long js_object(struct js *s, unsigned depth)
{
    long t = js_tok(s, CM_JSCAN_OBJECT), k, v;
    size_t klen;

    if (t < 0)
        return -1;
    s->i++;
    js_ws(s);
    if (s->i < s->len && s->p[s->i] == '}') {
        s->i++;
        return t;
    }
    for (;;) {
        if (s->i >= s->len || s->p[s->i] != '"' || s->doc->tok[t].n >= JS_MAX_MEMBERS)
            return -2;
        if ((k = js_string(s, &klen)) < 0)
            return k;
        if (js_duplicate(s, t, k, klen))
            return -2;
        s->doc->tok[k].next = (uint32_t)s->doc->n_tok;
        js_ws(s);
        if (s->i >= s->len || s->p[s->i] != ':')
            return -2;
        s->i++;
        if ((v = js_value(s, depth + 1)) < 0)
            return v;
        s->doc->tok[t].n++;
        if ((v = js_after(s, '}')) != 0)
            return v > 0 ? t : v;
    }
}

static long js_array(struct js *s, unsigned depth)
{
    long t = js_tok(s, CM_JSCAN_ARRAY), v;

    if (t < 0)
        return -1;
    s->i++;
    js_ws(s);
    if (s->i < s->len && s->p[s->i] == ']') {
        s->i++;
        return t;
    }
    for (;;) {
        if ((v = js_value(s, depth + 1)) < 0)
            return v;
        s->doc->tok[t].n++;
        if ((v = js_after(s, ']')) != 0)
            return v > 0 ? t : v;
    }
}

/* The value at s->i (whitespace before it skipped): its token, -1 out of memory, -2 not
 * taken. Its next is set once its descendants are in. */
static long js_value(struct js *s, unsigned depth)
{
    long t;
    size_t len;

    js_ws(s);
    if (s->i >= s->len || depth > JS_MAX_DEPTH)
        return -2;
    switch (s->p[s->i]) {
    case '{': t = js_object(s, depth); break;
    case '[': t = js_array(s, depth); break;
    case '"': t = js_string(s, &len); break;
    case 't': t = js_literal(s, "true", CM_JSCAN_TRUE); break;
    case 'f': t = js_literal(s, "false", CM_JSCAN_FALSE); break;
    case 'n': t = js_literal(s, "null", CM_JSCAN_NULL); break;
    default: t = js_integer(s); break;
    }
    if (t >= 0)
        s->doc->tok[t].next = (uint32_t)s->doc->n_tok;
    return t;
}

int cm_jscan_parse(struct cm_jscan *doc, const char *text, size_t len)
{
    struct js s = {doc, NULL, 0, len, JS_MAX_DUP_WORK};
    long root;

    memset(doc, 0, sizeof(*doc));
    if (len >= UINT32_MAX / 2)
        return CM_EINVAL;
    if (!(doc->text = s.p = malloc(len + 1)))
        return CM_ENOMEM;
    memcpy(s.p, text, len);
    s.p[len] = '\0';
    root = js_value(&s, 0);
    if (root == -1)
        return CM_ENOMEM;
    js_ws(&s);
    return root == 0 && s.i == len ? CM_OK : CM_EINVAL;
}

void cm_jscan_free(struct cm_jscan *doc)
{
    free(doc->text);
    free(doc->tok);
    memset(doc, 0, sizeof(*doc));
}

long cm_jscan_member(const struct cm_jscan *doc, size_t obj, const char *key, size_t len)
{
    const struct cm_jscan_tok *t = doc->tok;
    if (t[obj].type != CM_JSCAN_OBJECT)
        return -1;
    for (size_t m = obj + 1, k = 0; k < t[obj].n; k++, m = t[m + 1].next) {
        const char *name = doc->text + t[m].off;
        if (!strncmp(name, key, len) && name[len] == '\0')
            return (long)m + 1;
    }
    return -1;
}

long cm_jscan_element(const struct cm_jscan *doc, size_t arr, size_t i)
{
    const struct cm_jscan_tok *t = doc->tok;
    if (t[arr].type != CM_JSCAN_ARRAY || i >= t[arr].n)
        return -1;
    size_t e = arr + 1;
    while (i--)
        e = t[e].next;
    return (long)e;
}
