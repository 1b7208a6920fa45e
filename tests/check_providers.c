/* SPDX-License-Identifier: MIT */
/*
 * Table-driven provider tests: every tests/cases/<provider>/<name>.case is one delivery run
 * through the real loader, host services and dispatch, with all four providers loaded so the
 * wrong-endpoint hints are exercised too. Expected events live beside it in <name>.json.
 * Built twice: check_providers runs the cases on the project's own fixtures, and
 * check_providers_shared (CM_CASES_SHARED) the ones on ../shared/fixtures, which it reports
 * as skipped (77, naming each case) when that directory is not there, as in a fresh clone.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/request.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "test_paths.h"

#define MAX_CASES 512

static const char *const providers[] = {"bitbucket-cloud", "bitbucket-datacenter", "github",
                                        "gitlab"};
static char *cases[MAX_CASES]; /* "provider/name" */
static int n_cases;

struct tcase_spec {
    char provider[64];
    char body_path[1024];
    char *body_text;
    char headers[32][512];
    int n_headers;
    char config[4096];
    long long now;
    char expect[32];
    char expect_error[512];
    char expect_open[32]; /* the endpoint's create() must refuse its settings with this */
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static void parse_case(const char *id, struct tcase_spec *c)
{
    char path[1024], line[8192];
    FILE *f;

    memset(c, 0, sizeof(*c));
    c->now = 1700000000;
    snprintf(c->provider, sizeof(c->provider), "%.*s", (int)strcspn(id, "/"), id);
    snprintf(path, sizeof(path), "%s/tests/cases/%s.case", cm_test_srcdir(), id);
    f = fopen(path, "r");
    ck_assert_msg(f, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        chomp(line);
        char *v = strchr(line, ':');
        if (line[0] == '#' || !v)
            continue;
        *v++ = '\0';
        while (*v == ' ')
            v++;
        if (!strcmp(line, "body")) {
            if (!strncmp(v, "shared ", 7)) {
                ck_assert_msg(cm_test_shared_fixtures(), "%s: ../shared/fixtures is gone", id);
                snprintf(c->body_path, sizeof(c->body_path), "%s/%s", cm_test_shared_fixtures(),
                         v + 7);
            } else if (!strncmp(v, "local ", 6)) {
                snprintf(c->body_path, sizeof(c->body_path), "%s/tests/fixtures/%s",
                         cm_test_srcdir(), v + 6);
            } else {
                ck_abort_msg("%s: body: wants 'shared PATH' or 'local PATH'", id);
            }
        } else if (!strcmp(line, "body-text")) {
            free(c->body_text);
            c->body_text = strdup(v);
        } else if (!strcmp(line, "header")) {
            ck_assert_msg(c->n_headers < 32, "%s: too many headers", id);
            snprintf(c->headers[c->n_headers++], sizeof(c->headers[0]), "%s", v);
        } else if (!strcmp(line, "config")) {
            size_t n = strlen(c->config);
            snprintf(c->config + n, sizeof(c->config) - n, "    %s\n", v);
        } else if (!strcmp(line, "now")) {
            c->now = atoll(v);
        } else if (!strcmp(line, "expect")) {
            snprintf(c->expect, sizeof(c->expect), "%s", v);
        } else if (!strcmp(line, "expect-open")) {
            snprintf(c->expect_open, sizeof(c->expect_open), "%s", v);
        } else if (!strcmp(line, "expect-error")) {
            snprintf(c->expect_error, sizeof(c->expect_error), "%s", v);
        } else {
            ck_abort_msg("%s: unknown directive \"%s\"", id, line);
        }
    }
    fclose(f);
    ck_assert_msg(c->expect[0] || c->expect_open[0], "%s: no expect: line", id);
}

/* The gateway for a case; NULL (with the status in *rc and the message in err) when it
 * refuses to open. */
static struct cm_gateway *open_gateway(const struct tcase_spec *c, int *rc, char *err,
                                       size_t errlen)
{
    char text[8192];
    size_t n = 0;
    struct cm_config *cfg;
    struct cm_gateway *gw;

    n += (size_t)snprintf(text + n, sizeof(text) - n, "endpoints = (\n");
    for (size_t i = 0; i < sizeof(providers) / sizeof(*providers); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "  { name = \"%s\"; provider = \"%s\";\n%s  }%s\n", providers[i],
                              providers[i], strcmp(providers[i], c->provider) ? "" : c->config,
                              i + 1 < sizeof(providers) / sizeof(*providers) ? "," : "");
    snprintf(text + n, sizeof(text) - n, ");\n");
    ck_assert_msg(cm_config_load_text(&cfg, "case.conf", text, err, errlen) == CM_OK,
                  "config: %s\n%s", err, text);
    *rc = cm_gateway_open(&gw, cfg, cm_test_module_dir(), err, errlen);
    return *rc == CM_OK ? gw : NULL;
}

static json_t *events_json(const struct cm_request *req)
{
    json_t *a = json_array();
    for (size_t i = 0; i < req->n_events; i++)
        json_array_append_new(a, json_loads(cm_event_json(req->events[i]), 0, NULL));
    return a;
}

START_TEST(test_case)
{
    const char *id = cases[_i];
    struct tcase_spec c;
    struct cm_gateway *gw;
    struct cm_request *req;
    char *body;
    size_t len;
    int rc;

    parse_case(id, &c);
    char err[1024];
    gw = open_gateway(&c, &rc, err, sizeof(err));
    if (c.expect_open[0]) {
        ck_assert_msg(!gw && !strcmp(cm_status_name(rc), c.expect_open),
                      "%s: expected the endpoint to refuse its settings (%s), got %s", id,
                      c.expect_open, gw ? "ok" : cm_status_name(rc));
        ck_assert_msg(strstr(err, c.provider), "%s: \"%s\" does not name the endpoint", id, err);
        free(c.body_text);
        return;
    }
    ck_assert_msg(gw, "%s: gateway: %s", id, err);
    cm_host_set_clock(c.now);
    ck_assert_int_eq(cm_request_new(&req, cm_gateway_endpoint(gw, c.provider)), CM_OK);
    req->received_at = c.now;
    for (int i = 0; i < c.n_headers; i++) {
        char *colon = strchr(c.headers[i], ':');
        ck_assert_msg(colon, "%s: header without colon", id);
        *colon = '\0';
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        ck_assert_int_eq(cm_request_add_header(req, c.headers[i], v), CM_OK);
    }
    if (c.body_text) {
        body = c.body_text;
        len = strlen(body);
    } else {
        body = read_file(c.body_path, &len);
        ck_assert_msg(body, "%s: cannot read %s", id, c.body_path);
    }
    ck_assert_int_eq(cm_request_set_body(req, body, len), CM_OK);
    free(body);

    rc = cm_dispatch(gw, req);
    ck_assert_msg(!strcmp(cm_status_name(rc), c.expect), "%s: expected %s, got %s (%s)", id,
                  c.expect, cm_status_name(rc), req->reason);
    if (c.expect_error[0])
        ck_assert_msg(strstr(req->reason, c.expect_error), "%s: reason \"%s\" lacks \"%s\"", id,
                      req->reason, c.expect_error);
    if (rc == CM_OK) {
        char path[1024];
        json_error_t jerr;
        json_t *got = events_json(req), *want;
        snprintf(path, sizeof(path), "%s/tests/cases/%s.json", cm_test_srcdir(), id);
        want = json_load_file(path, 0, &jerr);
        ck_assert_msg(want, "%s: %s: %s", id, path, jerr.text);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            ck_abort_msg("%s: events differ from %s; got:\n%s", id, path, g);
        }
        json_decref(got);
        json_decref(want);
    }
    cm_request_free(req);
    cm_gateway_free(gw);
    cm_host_set_clock(0);
}
END_TEST

/* The json_* host services (SDK 1.2) a provider without jansson reads its payload with. */
static struct cm_request *json_request(const char *body)
{
    struct cm_request *req;
    ck_assert_int_eq(cm_request_new(&req, NULL), CM_OK);
    ck_assert_int_eq(cm_request_set_body(req, body, strlen(body)), CM_OK);
    return req;
}

START_TEST(test_json_paths)
{
    const struct cm_host *h = &cm_host_services;
    struct cm_request *req = json_request(
        "{\"repository\": {\"full_name\": \"o/r\", \"id\": 9223372036854775807, \"n\": null},"
        " \"commits\": [{\"id\": \"abc\"}, {\"id\": 2}], \"real\": 1.5, \"t\": true,"
        " \"a.b\": \"dotted\", \"0\": \"zero\"}");
    const char *s;
    char buf[CM_JSON_INT_TEXT_SIZE];

    ck_assert_ptr_null(h->json_error(req));
    ck_assert_int_eq(h->json_type(req, ""), CM_JSON_OBJECT);
    ck_assert_int_eq(h->json_string(req, "repository.full_name", &s), CM_OK);
    ck_assert_str_eq(s, "o/r");
    /* Array elements by index; a path through a non-container or past the end is absent. */
    ck_assert_int_eq(h->json_string(req, "commits.0.id", &s), CM_OK);
    ck_assert_str_eq(s, "abc");
    ck_assert_int_eq(h->json_type(req, "commits.1.id"), CM_JSON_INTEGER);
    ck_assert_int_eq(h->json_type(req, "commits.2.id"), CM_JSON_ABSENT);
    ck_assert_int_eq(h->json_type(req, "commits.01"), CM_JSON_ABSENT);
    ck_assert_int_eq(h->json_type(req, "commits.-1"), CM_JSON_ABSENT);
    ck_assert_int_eq(h->json_type(req, "repository.full_name.x"), CM_JSON_ABSENT);
    ck_assert_int_eq(h->json_type(req, "repository..id"), CM_JSON_ABSENT);
    ck_assert_int_eq(h->json_type(req, "0"), CM_JSON_STRING);   /* a member named "0" */
    ck_assert_int_eq(h->json_type(req, "a.b"), CM_JSON_ABSENT); /* '.' cannot be named */
    ck_assert_int_eq(h->json_type(req, "t"), CM_JSON_TRUE);
    ck_assert_int_eq(h->json_type(req, "repository.n"), CM_JSON_NULL);
    /* Missing or null: CM_ENOENT; another type: CM_EINVAL. */
    ck_assert_int_eq(h->json_string(req, "repository.missing", &s), CM_ENOENT);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(h->json_string(req, "repository.n", &s), CM_ENOENT);
    ck_assert_int_eq(h->json_string(req, "repository.id", &s), CM_EINVAL);
    /* Integers as text, exact to the last digit of int64. */
    ck_assert_int_eq(h->json_int_text(req, "repository.id", buf, sizeof(buf)), CM_OK);
    ck_assert_str_eq(buf, "9223372036854775807");
    ck_assert_int_eq(h->json_int_text(req, "commits.1.id", buf, 2), CM_OK);
    ck_assert_str_eq(buf, "2");
    ck_assert_int_eq(h->json_int_text(req, "repository.id", buf, 5), CM_EINVAL);
    ck_assert_int_eq(h->json_int_text(req, "real", buf, sizeof(buf)), CM_EINVAL);
    ck_assert_int_eq(h->json_int_text(req, "commits.0.id", buf, sizeof(buf)), CM_EINVAL);
    ck_assert_int_eq(h->json_int_text(req, "repository.n", buf, sizeof(buf)), CM_ENOENT);
    ck_assert_str_eq(buf, "");
    cm_request_free(req);

    /* Past int64 the payload is unreadable, never rounded; so is a duplicate member. */
    static const char *const bad[] = {"{\"id\": 9223372036854775808}", "{\"a\": 1, \"a\": 2}",
                                      "{\"a\": ", "", "{\"a\": \"x\\u0000y\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        req = json_request(bad[i]);
        ck_assert_int_eq(h->json_type(req, ""), CM_EINVAL);
        ck_assert_int_eq(h->json_string(req, "a", &s), CM_EINVAL);
        ck_assert_int_eq(h->json_int_text(req, "id", buf, sizeof(buf)), CM_EINVAL);
        ck_assert_ptr_nonnull(h->json_error(req));
        cm_request_free(req);
    }
    req = json_request("{\"id\": 99999999999999999999}");
    ck_assert_ptr_nonnull(strstr(h->json_error(req), "too big integer"));
    cm_request_free(req);
    /* Any JSON value may be the root. */
    req = json_request("\"text\"");
    ck_assert_int_eq(h->json_string(req, "", &s), CM_OK);
    ck_assert_str_eq(s, "text");
    /* A new body is parsed anew. */
    ck_assert_int_eq(cm_request_set_body(req, "[7]", 3), CM_OK);
    ck_assert_int_eq(h->json_int_text(req, "0", buf, sizeof(buf)), CM_OK);
    ck_assert_str_eq(buf, "7");
    cm_request_free(req);
}
END_TEST

/* Secret rotation: an endpoint with secrets = [ "new", "old" ] accepts a delivery signed with
 * either, by each built-in provider's own scheme (its sign hook signs as the host would), and
 * refuses one signed with a secret it does not list. */
static const struct {
    const char *provider, *config, *body, *event, *skip; /* skip: a signed header left out */
    const char *secrets[3];                              /* new, old, not listed */
} rotation_cases[] = {
    {"github",
     "secrets = [ \"new\", \"old\" ];",
     "github/push-other-ref.json",
     "X-GitHub-Event: push",
     NULL,
     {"new", "old", "other"}},
    /* The legacy sha1 header alone. */
    {"github",
     "secrets = [ \"new\", \"old\" ]; legacy_sha1 = true;",
     "github/push-other-ref.json",
     "X-GitHub-Event: push",
     "X-Hub-Signature-256",
     {"new", "old", "other"}},
    {"bitbucket-cloud",
     "secrets = [ \"new\", \"old\" ];",
     "bitbucket-cloud/mercurial-bookmark.json",
     "X-Event-Key: repo:push",
     NULL,
     {"new", "old", "other"}},
    {"bitbucket-datacenter",
     "secrets = [ \"new\", \"old\" ];",
     "bitbucket-datacenter/delete-without-ids.json",
     "X-Event-Key: repo:refs_changed",
     NULL,
     {"new", "old", "other"}},
    {"gitlab",
     "secrets = [ \"new\", \"old\" ];",
     "gitlab/push-minimal.json",
     "X-Gitlab-Event: Push Hook",
     NULL,
     {"new", "old", "other"}},
    {"gitlab",
     "signing_token = [ \"whsec_bmV3LXNpZ25pbmcta2V5LTAxMjM0NTY3\", "
     "\"whsec_b2xkLXNpZ25pbmcta2V5LTAxMjM0NTY3\" ];",
     "gitlab/push-minimal.json",
     "X-Gitlab-Event: Push Hook",
     NULL,
     {"whsec_bmV3LXNpZ25pbmcta2V5LTAxMjM0NTY3", "whsec_b2xkLXNpZ25pbmcta2V5LTAxMjM0NTY3",
      "whsec_b3RoZXItc2lnbmluZy1rZXktMDEyMzQ1"}},
};

struct rotation_emit {
    struct cm_request *req;
    const char *skip;
};

static int rotation_header(void *arg, const char *name, const char *value)
{
    struct rotation_emit *e = arg;
    return e->skip && !strcmp(name, e->skip) ? 0 : cm_request_add_header(e->req, name, value);
}

START_TEST(test_rotation)
{
    struct tcase_spec c;
    struct cm_gateway *gw;
    const struct cm_endpoint *ep;
    char err[1024], path[1024], event[128];
    int rc;

    memset(&c, 0, sizeof(c));
    snprintf(c.provider, sizeof(c.provider), "%s", rotation_cases[_i].provider);
    snprintf(c.config, sizeof(c.config), "    %s\n", rotation_cases[_i].config);
    gw = open_gateway(&c, &rc, err, sizeof(err));
    ck_assert_msg(gw, "%s: gateway: %s", c.provider, err);
    ep = cm_gateway_endpoint(gw, c.provider);
    ck_assert_ptr_nonnull(cm_provider_sign(ep->provider));
    cm_host_set_clock(1700000000);
    snprintf(path, sizeof(path), "%s/tests/fixtures/%s", cm_test_srcdir(), rotation_cases[_i].body);
    for (int k = 0; k < 3; k++) {
        struct rotation_emit e = {NULL, rotation_cases[_i].skip};
        size_t len = 0;
        char *body = read_file(path, &len), *colon;
        ck_assert_msg(body, "cannot read %s", path);
        ck_assert_int_eq(cm_request_new(&e.req, ep), CM_OK);
        e.req->received_at = 1700000000;
        ck_assert_int_eq(cm_request_set_body(e.req, body, len), CM_OK);
        free(body);
        snprintf(event, sizeof(event), "%s", rotation_cases[_i].event);
        colon = strchr(event, ':');
        *colon = '\0';
        ck_assert_int_eq(cm_request_add_header(e.req, event, colon + 2), CM_OK);
        ck_assert_int_eq(
            cm_provider_sign(ep->provider)(&cm_host_services, e.req, rotation_cases[_i].secrets[k],
                                           "msg_rotation", 1700000000, rotation_header, &e),
            CM_OK);
        rc = cm_dispatch(gw, e.req);
        ck_assert_msg(rc == (k < 2 ? CM_OK : CM_EAUTH), "%s (%s): signed with %s: %s (%s)",
                      c.provider, rotation_cases[_i].config, rotation_cases[_i].secrets[k],
                      cm_status_name(rc), e.req->reason);
        cm_request_free(e.req);
    }
    cm_gateway_free(gw);
    cm_host_set_clock(0);
}
END_TEST

/* secret_hmac_verify and secret_at (SDK 1.2) on a context with two secrets, and on one with
 * none: hex and base64, either case, malformed MACs, unknown algorithms and encodings. */
START_TEST(test_secret_services)
{
    const struct cm_host *h = &cm_host_services;
    char *two[] = {"new", "old"};
    struct cm_ctx ctx, none;
    unsigned char mac[64];
    char hex[129], b64[90];
    int n;

    cm_ctx_init(&ctx, "p", "e", NULL, two, 2, NULL);
    cm_ctx_init(&none, "p", "e", NULL, NULL, 0, NULL);
    ck_assert_str_eq(h->conf_secret(&ctx), "new");
    ck_assert_str_eq(h->secret_at(&ctx, 1), "old");
    ck_assert_ptr_null(h->secret_at(&ctx, 2));
    ck_assert_ptr_null(h->secret_at(&none, 0));
    ck_assert_ptr_null(h->conf_secret(&none));
    ck_assert_int_eq(h->secret_equals(&ctx, "old"), CM_OK);
    ck_assert_int_eq(h->secret_equals(&ctx, "new"), CM_OK);
    ck_assert_int_eq(h->secret_equals(&ctx, "ol"), CM_EAUTH);
    ck_assert_int_eq(h->secret_equals(&none, ""), CM_EAUTH);
    for (int k = 0; k < 3; k++) {
        const char *key = k == 0 ? "new" : k == 1 ? "old" : "other";
        n = h->hmac("sha256", key, strlen(key), "body", 4, mac);
        ck_assert_int_eq(n, 32);
        for (int i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02X", mac[i]); /* upper case is accepted too */
        h->base64_encode(mac, (size_t)n, b64);
        ck_assert_int_eq(h->secret_hmac_verify(&ctx, "sha256", "body", 4, hex, CM_MAC_HEX),
                         k < 2 ? CM_OK : CM_EAUTH);
        ck_assert_int_eq(h->secret_hmac_verify(&ctx, "sha256", "body", 4, b64, CM_MAC_BASE64),
                         k < 2 ? CM_OK : CM_EAUTH);
        ck_assert_int_eq(h->secret_hmac_verify(&none, "sha256", "body", 4, hex, CM_MAC_HEX),
                         CM_EAUTH);
    }
    ck_assert_int_eq(h->secret_hmac_verify(&ctx, "sha256", "body", 4, "zz", CM_MAC_HEX), CM_EAUTH);
    ck_assert_int_eq(h->secret_hmac_verify(&ctx, "sha256", "body", 4, "", CM_MAC_BASE64), CM_EAUTH);
    ck_assert_int_eq(h->secret_hmac_verify(&ctx, "sha256", "body", 4, NULL, CM_MAC_HEX), CM_EAUTH);
    ck_assert_int_eq(h->secret_hmac_verify(&ctx, "md5", "body", 4, hex, CM_MAC_HEX), CM_EINVAL);
    ck_assert_int_eq(h->secret_hmac_verify(&none, "md5", "body", 4, hex, CM_MAC_HEX), CM_EINVAL);
    ck_assert_int_eq(h->secret_hmac_verify(&ctx, "sha256", "body", 4, hex, 7), CM_EINVAL);
    cm_ctx_clear(&ctx);
    cm_ctx_clear(&none);
}
END_TEST

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the case reads its body from ../shared/fixtures ("body: shared ..."). */
static int needs_shared(const char *id)
{
    char path[1024], line[8192];
    int shared = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/cases/%s.case", cm_test_srcdir(), id);
    if (!(f = fopen(path, "r")))
        return 0; /* parse_case reports it */
    while (!shared && fgets(line, sizeof(line), f))
        shared = !strncmp(line, "body: shared ", 13);
    fclose(f);
    return shared;
}

#ifdef CM_CASES_SHARED
#define WANT_SHARED 1
#else
#define WANT_SHARED 0
#endif

/* This program's cases: those on the project's own fixtures, or (CM_CASES_SHARED) those on
 * ../shared/fixtures. */
static void collect_cases(void)
{
    for (size_t p = 0; p < sizeof(providers) / sizeof(*providers); p++) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/tests/cases/%s", cm_test_srcdir(), providers[p]);
        DIR *d = opendir(dir);
        struct dirent *e;
        if (!d)
            continue;
        while ((e = readdir(d)) && n_cases < MAX_CASES) {
            size_t n = strlen(e->d_name);
            if (n > 5 && !strcmp(e->d_name + n - 5, ".case")) {
                char id[512];
                snprintf(id, sizeof(id), "%s/%.*s", providers[p], (int)(n - 5), e->d_name);
                if (needs_shared(id) == WANT_SHARED)
                    cases[n_cases++] = strdup(id);
            }
        }
        closedir(d);
    }
    qsort(cases, (size_t)n_cases, sizeof(*cases), by_name);
}

static void free_cases(void)
{
    for (int i = 0; i < n_cases; i++)
        free(cases[i]);
}

int main(void)
{
    Suite *s;
    TCase *tc;
    SRunner *sr;
    int failed;

    collect_cases();
    if (n_cases == MAX_CASES) {
        fprintf(stderr, "more than %d cases: raise MAX_CASES\n", MAX_CASES - 1);
        free_cases();
        return 1;
    }
    if (WANT_SHARED && !cm_test_shared_fixtures()) {
        /* A skip, never a pass: each case that did not run is named. */
        for (int i = 0; i < n_cases; i++)
            printf("SKIP: %s\n", cases[i]);
        printf("SKIP: %d provider cases need ../shared/fixtures (CM_SHARED_FIXTURES=%s)\n", n_cases,
               cm_test_env("CM_SHARED_FIXTURES", "../shared/fixtures"));
        free_cases();
        return 77;
    }
    printf("%d provider cases on %s fixtures\n", n_cases,
           WANT_SHARED ? "../shared" : "the project's own");
    fflush(stdout);
    /* Made only now: check frees them with the runner, which a skip never creates. */
    s = suite_create("providers");
    tc = tcase_create("cases");
    tcase_add_loop_test(tc, test_case, 0, n_cases);
    suite_add_tcase(s, tc);
    if (!WANT_SHARED) {
        TCase *paths = tcase_create("json_paths");
        tcase_add_test(paths, test_json_paths);
        suite_add_tcase(s, paths);
        paths = tcase_create("rotation");
        tcase_add_loop_test(paths, test_rotation, 0,
                            (int)(sizeof(rotation_cases) / sizeof(*rotation_cases)));
        tcase_add_test(paths, test_secret_services);
        suite_add_tcase(s, paths);
    }
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free_cases();
    if (failed)
        return 1;
    return n_cases ? 0 : 77;
}
