/* SPDX-License-Identifier: MIT */
/*
 * The common event's normalisation, merging (the same result as before it was made linear;
 * the cap on refs) and JSON form, the request's form decoding, and the URL host comparison
 * that keeps the gateway from fetching hosts a payload made up.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/request.h"

#define A40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B40 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C40 "cccccccccccccccccccccccccccccccccccccccc"
#define Z40 "0000000000000000000000000000000000000000"

static const char *chg(const struct cm_event *ev, size_t i, enum cm_change_field f)
{
    const char *v = cm_event_change_get(ev, i, f);
    return v ? v : "(null)";
}

START_TEST(test_normalisation)
{
    struct cm_event *ev;
    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    ck_assert_str_eq(cm_event_get(ev, CM_FIELD_EVENT), "push");
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/main", Z40,
                                         "ABCDEF0123456789ABCDEF0123456789ABCDEF01", 1),
                     CM_OK);
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_OLD), "(null)");
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_NEW), "abcdef0123456789abcdef0123456789abcdef01");
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_KIND), "branch");
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_ACTION), "create");
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_FORCED), "true");
    /* SHA-256 repositories: 64 zeros are "no object" too. */
    ck_assert_int_eq(
        cm_event_add_change(ev, "refs/tags/v1", A40, Z40 "000000000000000000000000", -1), CM_OK);
    ck_assert_str_eq(chg(ev, 1, CM_CHANGE_KIND), "tag");
    ck_assert_str_eq(chg(ev, 1, CM_CHANGE_ACTION), "delete");
    ck_assert_str_eq(chg(ev, 1, CM_CHANGE_FORCED), "(null)");
    ck_assert_int_eq(cm_event_add_change(ev, "refs/notes/x", A40, B40, 0), CM_OK);
    ck_assert_str_eq(chg(ev, 2, CM_CHANGE_KIND), "other");
    ck_assert_str_eq(chg(ev, 2, CM_CHANGE_ACTION), "update");
    /* Refused: no ref, neither id, ids that are not hex of a hash's length. */
    ck_assert_int_eq(cm_event_add_change(ev, "", A40, B40, 0), CM_EINVAL);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/x", NULL, Z40, 0), CM_EINVAL);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/x", "xyz", B40, 0), CM_EINVAL);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/x", "abc", B40, 0), CM_EINVAL);
    ck_assert_uint_eq(ev->n_changes, 3);
    /* An empty string clears a field. */
    ck_assert_int_eq(cm_event_set(ev, CM_FIELD_ACTOR, "jd"), CM_OK);
    ck_assert_int_eq(cm_event_set(ev, CM_FIELD_ACTOR, ""), CM_OK);
    ck_assert_ptr_null(cm_event_get(ev, CM_FIELD_ACTOR));
    cm_event_free(ev);
}
END_TEST

START_TEST(test_merge)
{
    struct cm_event *a, *b, *c;
    ck_assert_int_eq(cm_event_new(&a), CM_OK);
    ck_assert_int_eq(cm_event_new(&b), CM_OK);
    ck_assert_int_eq(cm_event_new(&c), CM_OK);
    cm_event_add_change(a, "refs/heads/main", A40, B40, 0);
    cm_event_add_change(b, "refs/heads/main", B40, C40, -1);
    cm_event_add_change(b, "refs/tags/t", NULL, C40, -1);
    cm_event_add_change(c, "refs/tags/t", C40, NULL, -1);
    b->complete = 0;
    ck_assert_int_eq(cm_event_merge(a, b, 0), CM_OK);
    ck_assert_int_eq(cm_event_merge(a, c, 0), CM_OK);
    /* Earliest old, latest new; a created-then-deleted tag reads as gone. */
    ck_assert_str_eq(chg(a, 0, CM_CHANGE_OLD), A40);
    ck_assert_str_eq(chg(a, 0, CM_CHANGE_NEW), C40);
    ck_assert_str_eq(chg(a, 0, CM_CHANGE_FORCED), "(null)");
    ck_assert_str_eq(chg(a, 1, CM_CHANGE_ACTION), "delete");
    ck_assert_int_eq(a->complete, 0);
    cm_event_free(a);
    cm_event_free(b);
    cm_event_free(c);
}
END_TEST

/* A merged change was forced when any of its parts was: a forced push followed by a
 * fast-forward still rewrote history, so true wins over unknown and false. */
/* Every create and delete has a missing id, written "-" in the key: a delivery of many of
 * them (Bitbucket pushing tags) once overflowed the key's buffer and corrupted the heap. */
START_TEST(test_changes_key_creates_deletes)
{
    struct cm_event *ev = NULL;
    char ref[64], *key;
    size_t want = 1; /* 'c' */

    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    for (int i = 0; i < 200; i++) {
        snprintf(ref, sizeof(ref), "refs/tags/v%d", i);
        ck_assert_int_eq(cm_event_add_change(ev, ref, i % 2 ? NULL : A40, i % 2 ? B40 : NULL, -1),
                         CM_OK);
        want += strlen("\n") + strlen(ref) + strlen(" ") + 40 + strlen(" -");
    }
    key = cm_event_changes_key(ev);
    ck_assert_ptr_nonnull(key);
    ck_assert_uint_eq(strlen(key), want);
    ck_assert_ptr_nonnull(strstr(key, "\nrefs/tags/v1 - " B40));
    free(key);
    cm_event_free(ev);
}
END_TEST

START_TEST(test_merge_forced)
{
    static const struct {
        int first, later, want;
    } cases[] = {
        {1, 0, 1}, {1, -1, 1},  {0, 1, 1},   {-1, 1, 1},   {1, 1, 1},
        {0, 0, 0}, {0, -1, -1}, {-1, 0, -1}, {-1, -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cm_event *a, *b;
        ck_assert_int_eq(cm_event_new(&a), CM_OK);
        ck_assert_int_eq(cm_event_new(&b), CM_OK);
        ck_assert_int_eq(cm_event_add_change(a, "refs/heads/main", A40, B40, cases[i].first),
                         CM_OK);
        ck_assert_int_eq(cm_event_add_change(b, "refs/heads/main", B40, C40, cases[i].later),
                         CM_OK);
        ck_assert_int_eq(cm_event_merge(a, b, 0), CM_OK);
        ck_assert_msg(a->changes[0].forced == cases[i].want, "forced %d then %d: got %d, want %d",
                      cases[i].first, cases[i].later, a->changes[0].forced, cases[i].want);
        cm_event_free(a);
        cm_event_free(b);
    }
}
END_TEST

/* The merge as it was before it kept an index: a linear search of dst for each ref of src.
 * The indexed merge must give the same result, change for change. */
static struct cm_change *ref_find(struct cm_event *ev, const char *ref)
{
    for (size_t i = 0; i < ev->n_changes; i++)
        if (!strcmp(ev->changes[i].ref, ref))
            return &ev->changes[i];
    return NULL;
}

static const char *ref_action(const char *old_id, const char *new_id)
{
    return !new_id ? "delete" : !old_id ? "create" : "update";
}

static void reference_merge(struct cm_event *dst, const struct cm_event *src)
{
    if (!src->complete)
        dst->complete = 0;
    for (size_t i = 0; i < src->n_changes; i++) {
        const struct cm_change *s = &src->changes[i];
        struct cm_change *d = ref_find(dst, s->ref);
        if (!d) {
            ck_assert_int_eq(cm_event_add_change(dst, s->ref, s->old_id, s->new_id, s->forced),
                             CM_OK);
            continue;
        }
        free(d->new_id);
        d->new_id = s->new_id ? strdup(s->new_id) : NULL;
        d->action = ref_action(d->old_id, d->new_id);
        d->forced = d->forced == 1 || s->forced == 1 ? 1 : d->forced == s->forced ? d->forced : -1;
    }
    free(atomic_exchange(&dst->json, NULL));
}

static unsigned lcg(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* A random event over a small pool of refs, so merges meet the same refs often (and a
 * payload may even list one ref twice). */
static struct cm_event *random_event(unsigned *seed)
{
    static const char *const ids[] = {A40, B40, C40, "dddddddddddddddddddddddddddddddddddddddd",
                                      NULL};
    struct cm_event *ev;
    unsigned n = lcg(seed) % 12;
    char ref[32];

    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    ev->complete = lcg(seed) % 5 != 0;
    for (unsigned i = 0; i < n; i++) {
        const char *old_id = ids[lcg(seed) % 5], *new_id = ids[lcg(seed) % 5];
        if (!old_id && !new_id)
            new_id = A40;
        snprintf(ref, sizeof(ref), "refs/%s/r%u", lcg(seed) % 2 ? "heads" : "tags", lcg(seed) % 9);
        ck_assert_int_eq(cm_event_add_change(ev, ref, old_id, new_id, (int)(lcg(seed) % 3) - 1),
                         CM_OK);
    }
    return ev;
}

START_TEST(test_merge_same_as_before)
{
    unsigned seed = 7;

    for (int trial = 0; trial < 500; trial++) {
        struct cm_event *a = random_event(&seed), *b = NULL;
        char err[128];
        ck_assert_int_eq(cm_event_from_json(&b, cm_event_json(a), err, sizeof(err)), CM_OK);
        int k = (int)(lcg(&seed) % 6);
        for (int i = 0; i < k; i++) {
            struct cm_event *src = random_event(&seed);
            ck_assert_int_eq(cm_event_merge(a, src, 0), CM_OK);
            reference_merge(b, src);
            cm_event_free(src);
        }
        ck_assert_str_eq(cm_event_json(a), cm_event_json(b));
        cm_event_free(a);
        cm_event_free(b);
    }
}
END_TEST

/* An event of n refs named refs/heads/b<first>.. with ids picked by gen. */
static struct cm_event *ref_range(size_t first, size_t n, unsigned gen)
{
    struct cm_event *ev;
    char ref[48], old_id[41], new_id[41];

    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    for (size_t i = first; i < first + n; i++) {
        snprintf(ref, sizeof(ref), "refs/heads/b%zu", i);
        snprintf(old_id, sizeof(old_id), "%08x%032zx", gen, i);
        snprintf(new_id, sizeof(new_id), "%08x%032zx", gen + 1, i);
        ck_assert_int_eq(cm_event_add_change(ev, ref, old_id, new_id, 0), CM_OK);
    }
    return ev;
}

/* cm_event_json from many threads at once, as the SDK allows: every caller gets the one
 * cached text, none is leaked or freed under another (run under the sanitizer build too). */
#define JSON_THREADS 8
struct json_race {
    pthread_barrier_t start;
    const struct cm_event *ev;
    const char *got[JSON_THREADS];
};

static void *json_racer(void *arg)
{
    struct json_race *r = arg;
    static _Atomic int next;
    int me = atomic_fetch_add(&next, 1) % JSON_THREADS;
    pthread_barrier_wait(&r->start);
    r->got[me] = cm_event_json(r->ev);
    return NULL;
}

START_TEST(test_json_threads)
{
    struct cm_event *ev = ref_range(0, 3000, 1);
    pthread_t t[JSON_THREADS];
    struct json_race r = {.ev = ev};
    char actor[32];

    for (int round = 0; round < 20; round++) {
        snprintf(actor, sizeof(actor), "actor%d", round); /* a change: the cache starts empty */
        ck_assert_int_eq(cm_event_set(ev, CM_FIELD_ACTOR, actor), CM_OK);
        ck_assert_int_eq(pthread_barrier_init(&r.start, NULL, JSON_THREADS), 0);
        for (int i = 0; i < JSON_THREADS; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, json_racer, &r), 0);
        for (int i = 0; i < JSON_THREADS; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&r.start);
        ck_assert_ptr_nonnull(r.got[0]);
        ck_assert(strstr(r.got[0], actor) != NULL);
        for (int i = 1; i < JSON_THREADS; i++)
            ck_assert_ptr_eq(r.got[i], r.got[0]);
        ck_assert_ptr_eq(cm_event_json(ev), r.got[0]);
    }
    cm_event_free(ev);
}
END_TEST

/* Twelve deliveries of 7,800 refs once cost 72 CPU seconds to coalesce; the test's timeout is
 * the check, with no clock in the test itself. */
START_TEST(test_merge_many_refs)
{
    struct cm_event *dst = ref_range(0, 7800, 0);
    char want[41];

    for (unsigned k = 1; k < 12; k++) {
        /* Each overlaps the one before by all but 650 refs. */
        struct cm_event *src = ref_range(k * 650, 7800, k);
        ck_assert_int_eq(cm_event_merge(dst, src, 0), CM_OK);
        cm_event_free(src);
    }
    ck_assert_uint_eq(dst->n_changes, 11 * 650 + 7800);
    /* Order of first appearance; earliest old, latest new. */
    ck_assert_str_eq(dst->changes[0].ref, "refs/heads/b0");
    ck_assert_str_eq(dst->changes[dst->n_changes - 1].ref, "refs/heads/b14949");
    snprintf(want, sizeof(want), "%08x%032zx", 0u, (size_t)7799);
    ck_assert_str_eq(dst->changes[7799].old_id, want);
    snprintf(want, sizeof(want), "%08x%032zx", 12u, (size_t)7799);
    ck_assert_str_eq(dst->changes[7799].new_id, want);
    ck_assert_int_eq(dst->complete, 1);
    ck_assert_ptr_nonnull(cm_event_json(dst));
    cm_event_free(dst);
}
END_TEST

START_TEST(test_merge_cap)
{
    struct cm_event *a = ref_range(0, 3, 0), *b = ref_range(2, 3, 1), *c = ref_range(9, 1, 2);

    /* Within the cap: merged as ever. */
    ck_assert_int_eq(cm_event_merge(a, b, 5), CM_OK);
    ck_assert_uint_eq(a->n_changes, 5);
    ck_assert_int_eq(a->complete, 1);
    /* Past it: no list, incomplete, so the sync looks at every ref. */
    ck_assert_int_eq(cm_event_merge(a, c, 5), CM_OK);
    ck_assert_uint_eq(a->n_changes, 0);
    ck_assert_int_eq(a->complete, 0);
    ck_assert_ptr_nonnull(strstr(cm_event_json(a), "\"complete\":false,\"changes\":[]"));
    /* A later merge may list refs again, as a hint; the event stays incomplete. */
    ck_assert_int_eq(cm_event_merge(a, c, 5), CM_OK);
    ck_assert_uint_eq(a->n_changes, 1);
    ck_assert_int_eq(a->complete, 0);
    /* The cap alone. */
    ck_assert_int_eq(cm_event_cap_changes(b, 3), 0);
    ck_assert_int_eq(cm_event_cap_changes(b, 0), 0);
    ck_assert_int_eq(cm_event_cap_changes(b, 2), 1);
    ck_assert_uint_eq(b->n_changes, 0);
    ck_assert_int_eq(b->complete, 0);
    /* An event dropped and filled again keeps a working index. */
    ck_assert_int_eq(cm_event_add_change(b, "refs/heads/x", A40, B40, 0), CM_OK);
    ck_assert_int_eq(cm_event_merge(b, c, 0), CM_OK);
    ck_assert_int_eq(cm_event_merge(b, c, 0), CM_OK);
    ck_assert_uint_eq(b->n_changes, 2);
    cm_event_free(a);
    cm_event_free(b);
    cm_event_free(c);
}
END_TEST

START_TEST(test_json_round_trip)
{
    struct cm_event *ev, *back;
    char err[256];
    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    cm_event_set(ev, CM_FIELD_REPOSITORY, "PLAT/billing-api");
    cm_event_set(ev, CM_FIELD_DELIVERY_ID, "d\"1\n");
    cm_event_add_change(ev, "refs/heads/main", A40, B40, 0);
    ev->complete = 0;
    const char *json = cm_event_json(ev);
    json_t *o = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(o);
    /* Every key of the contract is present, null when unset. */
    static const char *const keys[] = {
        "provider",   "endpoint",      "event",          "delivery_id",   "received_at",
        "repository", "repository_id", "clone_url_http", "clone_url_ssh", "html_url",
        "actor",      "complete",      "changes"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        ck_assert_msg(json_object_get(o, keys[i]), "missing %s", keys[i]);
    ck_assert(json_is_null(json_object_get(o, "actor")));
    json_decref(o);
    ck_assert_int_eq(cm_event_from_json(&back, json, err, sizeof(err)), CM_OK);
    ck_assert_str_eq(cm_event_json(back), json);
    cm_event_free(back);
    cm_event_free(ev);
    ck_assert_int_eq(cm_event_from_json(&back, "[]", err, sizeof(err)), CM_EINVAL);
    ck_assert_int_eq(cm_event_from_json(&back, "{\"changes\": 3}", err, sizeof(err)), CM_EINVAL);
    ck_assert_int_eq(
        cm_event_from_json(&back, "{\"changes\": [{\"ref\": \"x\"}]}", err, sizeof(err)),
        CM_EINVAL);
}
END_TEST

static int read_form(struct cm_request *req, const char *body, unsigned flags)
{
    ck_assert_int_eq(cm_request_set_body(req, body, strlen(body)), CM_OK);
    return cm_request_read_form(req, flags);
}

START_TEST(test_form_payload)
{
    struct cm_request *req;
    size_t len;
    const char form[] = "payload=%7B%22x%22%3A+1%7D";

    ck_assert_int_eq(cm_request_new(&req, NULL), CM_OK);
    cm_request_add_header(req, "content-type", "application/x-www-form-urlencoded; charset=utf-8");
    /* Nothing is decoded before the provider's flags are known. */
    ck_assert_int_eq(cm_request_set_body(req, form, strlen(form)), CM_OK);
    ck_assert_ptr_null(cm_request_payload(req, &len));
    ck_assert_int_eq(cm_request_read_form(req, CM_PROVIDER_FORM_PAYLOAD), CM_OK);
    ck_assert_str_eq(cm_request_payload(req, &len), "{\"x\": 1}");
    ck_assert_uint_eq(len, 8);
    /* The raw body, which signatures cover, is untouched. */
    ck_assert_str_eq(req->body, form);
    /* A provider that did not opt in never has a form read for it. */
    ck_assert_int_eq(read_form(req, form, 0), CM_EINVAL);
    ck_assert(strstr(req->reason, "application/json"));
    /* Exactly one payload field: no field before or after, no smuggled second payload. */
    ck_assert_int_eq(read_form(req, "a=1&payload=%7B%7D", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    ck_assert_int_eq(read_form(req, "payload=%7B%7D&b=2", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    ck_assert_int_eq(read_form(req, "payload=%7B%7D&payload=x", CM_PROVIDER_FORM_PAYLOAD),
                     CM_EINVAL);
    ck_assert_int_eq(read_form(req, "a=1", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    ck_assert_int_eq(read_form(req, "payload=a=b", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    /* A JSON body under a form content type: the replay that smuggles "&payload=" in a
     * commit message of a signed JSON delivery. */
    ck_assert_int_eq(read_form(req, "{\"m\":\"x&payload=%7B%7D&\"}", CM_PROVIDER_FORM_PAYLOAD),
                     CM_EINVAL);
    ck_assert(strstr(req->reason, "JSON"));
    ck_assert_int_eq(read_form(req, " \n[1]", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    ck_assert_int_eq(read_form(req, "payload=%zz", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    ck_assert_int_eq(read_form(req, "payload=%4", CM_PROVIDER_FORM_PAYLOAD), CM_EINVAL);
    ck_assert_str_eq(cm_request_header(req, "Content-Type"),
                     "application/x-www-form-urlencoded; charset=utf-8");
    cm_request_free(req);
}
END_TEST

/* A reason quotes what the sender sent: it stays one line of printable ASCII (valid JSON). */
START_TEST(test_reason_escaped)
{
    struct cm_request *req;

    ck_assert_int_eq(cm_request_new(&req, NULL), CM_OK);
    ck_assert_int_eq(cm_request_reject(req, CM_EINVAL, "name \"%s\"", "o/r\n\x1b[31m\xff"),
                     CM_EINVAL);
    ck_assert_str_eq(req->reason, "name \"o/r\\x0a\\x1b[31m\\xff\"");
    cm_request_free(req);
}
END_TEST
/* A host may report a change without its ids (a delete with no old id): the action stays
 * what the host said, the ids are null in the JSON form, and the form reads back the same. */
START_TEST(test_unknown_ids)
{
    struct cm_event *ev, *back;
    char err[256], *key;

    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/gone", CM_ID_UNKNOWN, NULL, -1), CM_OK);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/moved", CM_ID_UNKNOWN, CM_ID_UNKNOWN, -1),
                     CM_OK);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/tags/new", NULL, CM_ID_UNKNOWN, -1), CM_OK);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/z", CM_ID_UNKNOWN, Z40, -1), CM_OK);
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_ACTION), "delete");
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_OLD), "(null)");
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_NEW), "(null)");
    ck_assert_str_eq(chg(ev, 1, CM_CHANGE_ACTION), "update");
    ck_assert_str_eq(chg(ev, 2, CM_CHANGE_ACTION), "create");
    ck_assert_str_eq(chg(ev, 3, CM_CHANGE_ACTION), "delete");
    /* Still refused: nothing before and nothing after is no change at all. */
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/x", NULL, Z40, -1), CM_EINVAL);

    const char *json = cm_event_json(ev);
    json_t *o = json_loads(json, 0, NULL), *c0 = json_array_get(json_object_get(o, "changes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c0, "action")), "delete");
    ck_assert(json_is_null(json_object_get(c0, "old")) && json_is_null(json_object_get(c0, "new")));
    json_decref(o);
    ck_assert_int_eq(cm_event_from_json(&back, json, err, sizeof(err)), CM_OK);
    ck_assert_str_eq(cm_event_json(back), json);

    /* The key tells an unknown id ("?") from none ("-"): an update and a delete of one ref
     * without ids are different pushes. */
    key = cm_event_changes_key(back);
    ck_assert_ptr_nonnull(strstr(key, "\nrefs/heads/gone ? -\nrefs/heads/moved ? ?\n"));
    ck_assert_ptr_nonnull(strstr(key, "\nrefs/tags/new - ?"));
    free(key);
    cm_event_free(back);
    cm_event_free(ev);
}
END_TEST

/* Coalescing keeps the earliest old and the latest new, known or not. */
START_TEST(test_merge_unknown_ids)
{
    struct cm_event *a, *b, *c;

    ck_assert_int_eq(cm_event_new(&a), CM_OK);
    ck_assert_int_eq(cm_event_new(&b), CM_OK);
    ck_assert_int_eq(cm_event_new(&c), CM_OK);
    cm_event_add_change(a, "refs/heads/main", A40, B40, 0);
    cm_event_add_change(a, "refs/heads/tmp", NULL, A40, 0);
    cm_event_add_change(b, "refs/heads/main", CM_ID_UNKNOWN, NULL, -1); /* deleted, no ids */
    cm_event_add_change(b, "refs/heads/tmp", CM_ID_UNKNOWN, NULL, -1);
    cm_event_add_change(b, "refs/heads/new", CM_ID_UNKNOWN, NULL, -1);
    cm_event_add_change(c, "refs/heads/new", NULL, C40, -1);
    ck_assert_int_eq(cm_event_merge(a, b, 0), CM_OK);
    ck_assert_int_eq(cm_event_merge(a, c, 0), CM_OK);
    /* Updated then deleted: a delete from A40. Created then deleted: gone, as before. */
    ck_assert_str_eq(chg(a, 0, CM_CHANGE_ACTION), "delete");
    ck_assert_str_eq(chg(a, 0, CM_CHANGE_OLD), A40);
    ck_assert_str_eq(chg(a, 1, CM_CHANGE_ACTION), "delete");
    /* Deleted without ids, then created again: an update from an unknown old id. */
    ck_assert_str_eq(chg(a, 2, CM_CHANGE_ACTION), "update");
    ck_assert_str_eq(chg(a, 2, CM_CHANGE_OLD), "(null)");
    ck_assert_str_eq(chg(a, 2, CM_CHANGE_NEW), C40);
    cm_event_free(a);
    cm_event_free(b);
    cm_event_free(c);
}
END_TEST

/* Records written before ids could be unknown: a null id is "none", the action is derived. */
START_TEST(test_json_without_action)
{
    struct cm_event *ev;
    char err[256];
    const char *old = "{\"changes\": [{\"ref\": \"refs/heads/a\", \"old\": null, \"new\": \"" B40
                      "\"}, {\"ref\": \"refs/heads/b\", \"action\": \"create\", \"old\": null, "
                      "\"new\": null}]}";

    ck_assert_int_eq(cm_event_from_json(&ev, old, err, sizeof(err)), CM_OK);
    ck_assert_str_eq(chg(ev, 0, CM_CHANGE_ACTION), "create");
    /* A create whose new id the host did not send. */
    ck_assert_str_eq(chg(ev, 1, CM_CHANGE_ACTION), "create");
    cm_event_free(ev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    /* check's default is 4 s; test_json_threads takes most of that in a sanitizer build, so a
     * busy machine timed it out. Nothing here is timed: the timeout only catches a hang. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_normalisation);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_merge_forced);
    tcase_add_test(tc, test_changes_key_creates_deletes);
    tcase_add_test(tc, test_json_threads);
    tcase_add_test(tc, test_merge_same_as_before);
    tcase_add_test(tc, test_merge_cap);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_unknown_ids);
    tcase_add_test(tc, test_merge_unknown_ids);
    tcase_add_test(tc, test_json_without_action);
    tcase_add_test(tc, test_form_payload);
    tcase_add_test(tc, test_reason_escaped);
    suite_add_tcase(s, tc);
    /* Generous, for sanitizer and valgrind builds: what it catches is minutes, not seconds. */
    TCase *big = tcase_create("many_refs");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, test_merge_many_refs);
    suite_add_tcase(s, big);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
