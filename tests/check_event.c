/* SPDX-License-Identifier: MIT */
/*
 * The common event's normalisation, merging and JSON form, the request's form decoding, and
 * the URL host comparison that keeps the gateway from fetching hosts a payload made up.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "event.h"
#include "request.h"

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

int main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_normalisation);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_form_payload);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
