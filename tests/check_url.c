/* SPDX-License-Identifier: MIT */
/*
 * Where a fetch may go: the strict URL parser against the spellings libgit2 reads differently,
 * the fetch-URL policy (origin of url / ssh_url, clone_url templates), and the repository-name
 * floor every provider's names pass.
 */
#include <check.h>
#include <string.h>

#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/repo_name.h"
#include "plugin/gateway.h"
#include "util/url.h"

static const struct {
    const char *url;
    const char *scheme, *host; /* NULL: refused */
    unsigned port;
    int scp;
    const char *path;
} parse_cases[] = {
    {"https://github.com/o/r.git", "https", "github.com", 443, 0, "/o/r.git"},
    {"https://GitHub.COM", "https", "github.com", 443, 0, ""},
    {"http://admin@bitbucket.example.com:7990/bitbucket/scm/p/r.git", "http",
     "bitbucket.example.com", 7990, 0, "/bitbucket/scm/p/r.git"},
    {"https://u:p%40q@h.example/x", "https", "h.example", 443, 0, "/x"},
    {"ssh://git@bitbucket.example.com:7999/plat/api.git", "ssh", "bitbucket.example.com", 7999, 0,
     "/plat/api.git"},
    {"git+ssh://git@[::1]:2222/x.git", "ssh", "::1", 2222, 0, "/x.git"},
    {"git://127.0.0.1:9418/a/b.git", "git", "127.0.0.1", 9418, 0, "/a/b.git"},
    {"git@github.com:owner/name.git", "ssh", "github.com", 22, 1, "owner/name.git"},
    {"host.example:repo.git", "ssh", "host.example", 22, 1, "repo.git"},
    /* The scp trick: libgit2 connects to evilhost:22 while a host-only check saw the other. */
    {"evilhost:x://github.com/r.git", NULL, NULL, 0, 0, NULL},
    {"git@evil:x://github.com/o/r.git", NULL, NULL, 0, 0, NULL},
    {"file:///srv/git/x.git", NULL, NULL, 0, 0, NULL},
    {"file://localhost/srv/mirrors/other/x.git", NULL, NULL, 0, 0, NULL},
    {"/srv/git/x.git", NULL, NULL, 0, 0, NULL},
    {"./x:y", NULL, NULL, 0, 0, NULL},
    {"ext::sh -c touch% /tmp/pwned", NULL, NULL, 0, 0, NULL},
    {"HTTPS://github.com/o/r.git", NULL, NULL, 0, 0, NULL},
    {" https://github.com/o/r.git", NULL, NULL, 0, 0, NULL},
    {"https://github.com/o/r.git\n", NULL, NULL, 0, 0, NULL},
    {"https://evil@github.com@x/o", NULL, NULL, 0, 0, NULL},
    {"https://github.com:0/x", NULL, NULL, 0, 0, NULL},
    {"https://github.com:65536/x", NULL, NULL, 0, 0, NULL},
    {"https://github.com:/x", NULL, NULL, 0, 0, NULL},
    {"https://github.com:443x/x", NULL, NULL, 0, 0, NULL},
    {"https://[::1/x", NULL, NULL, 0, 0, NULL},
    {"https://[zz]/x", NULL, NULL, 0, 0, NULL},
    {"https://gith%75b.com/x", NULL, NULL, 0, 0, NULL},
    {"https://github.com/o/../../x", NULL, NULL, 0, 0, NULL},
    {"https://github.com/o/%2e%2E/x", NULL, NULL, 0, 0, NULL},
    {"https://github.com/o/r?x=1", NULL, NULL, 0, 0, NULL},
    {"https://h.example/scm/x%2f..%2f..%2fother/r.git", NULL, NULL, 0, 0, NULL},
    {"https://h.example/scm/x%2F..%2Fother/r.git", NULL, NULL, 0, 0, NULL},
    {"https://h.example/scm/x%5c..%5cother/r.git", NULL, NULL, 0, 0, NULL},
    {"https://h.example/scm/x%252e%252e/r.git", NULL, NULL, 0, 0, NULL},
    {"https://h.example/scm/%7Ejdoe/r.git", "https", "h.example", 443, 0, "/scm/%7Ejdoe/r.git"},
    {"https://github.com\\@evil/x", NULL, NULL, 0, 0, NULL},
    {"https:///x.git", NULL, NULL, 0, 0, NULL},
    {"https://.github.com/x", NULL, NULL, 0, 0, NULL},
    {"git@github.com:", NULL, NULL, 0, 0, NULL},
    {"a/b:c", NULL, NULL, 0, 0, NULL},
    {"https:/x.example/o/r.git", NULL, NULL, 0, 0, NULL},
    {"git+ssh:/x/r", NULL, NULL, 0, 0, NULL},
    {"file:/srv/git/x.git", NULL, NULL, 0, 0, NULL},
    {"", NULL, NULL, 0, 0, NULL},
};

START_TEST(test_parse)
{
    struct cm_url u;
    int rc = cm_url_parse(parse_cases[_i].url, &u);

    if (!parse_cases[_i].scheme) {
        ck_assert_msg(rc == CM_EINVAL, "%s was accepted", parse_cases[_i].url);
        return;
    }
    ck_assert_msg(rc == CM_OK, "%s was refused", parse_cases[_i].url);
    ck_assert_str_eq(u.scheme, parse_cases[_i].scheme);
    ck_assert_str_eq(u.host, parse_cases[_i].host);
    ck_assert_uint_eq(u.port, parse_cases[_i].port);
    ck_assert_int_eq(u.scp, parse_cases[_i].scp);
    ck_assert_str_eq(u.path, parse_cases[_i].path);
}
END_TEST

START_TEST(test_origin)
{
    struct cm_url a, b;

    ck_assert_int_eq(cm_url_parse("https://git.example.com/x", &a), CM_OK);
    ck_assert_int_eq(cm_url_parse("https://GIT.example.com:443/y", &b), CM_OK);
    ck_assert(cm_url_same_origin(&a, &b));
    ck_assert_int_eq(cm_url_parse("https://git.example.com:8443/y", &b), CM_OK);
    ck_assert(!cm_url_same_origin(&a, &b));
    ck_assert_int_eq(cm_url_parse("http://git.example.com/y", &b), CM_OK);
    ck_assert(!cm_url_same_origin(&a, &b));
    ck_assert_int_eq(cm_url_parse("https://git.example.com.evil.org/y", &b), CM_OK);
    ck_assert(!cm_url_same_origin(&a, &b));
}
END_TEST

/* An endpoint as the gateway builds it, with only what the policy reads. */
struct fx {
    struct cm_endpoint_conf conf;
    struct cm_endpoint ep;
    struct cm_event *ev;
};

static void fx_init(struct fx *f, const char *url, const char *ssh_url, const char *clone_url,
                    const char *repo, const char *http, const char *ssh)
{
    memset(f, 0, sizeof(*f));
    f->conf.name = "ep";
    f->conf.file = "conf.d/10-ep.conf";
    f->conf.ssh_url = (char *)ssh_url;
    f->conf.clone_url = (char *)clone_url;
    f->ep.conf = &f->conf;
    f->ep.url = url;
    ck_assert_int_eq(cm_event_new(&f->ev), CM_OK);
    cm_event_set(f->ev, CM_FIELD_REPOSITORY, repo);
    cm_event_set(f->ev, CM_FIELD_CLONE_URL_HTTP, http);
    cm_event_set(f->ev, CM_FIELD_CLONE_URL_SSH, ssh);
}

/* The URL the policy gives, or NULL when it refuses. */
static const char *policy(struct fx *f, int prefer_ssh, char *out, size_t len)
{
    char why[512], detail[1024];
    int rc =
        cm_fetch_url(&f->ep, prefer_ssh, f->ev, out, len, why, sizeof(why), detail, sizeof(detail));

    cm_event_free(f->ev);
    if (rc != CM_OK) {
        /* What the sender reads names none of our URLs or files. */
        ck_assert_ptr_null(strstr(why, "conf.d"));
        ck_assert_ptr_null(strstr(why, "mirror.internal"));
        return NULL;
    }
    return out;
}

START_TEST(test_policy)
{
    struct fx f;
    char out[2048];
    const char *gh = "https://github.com";

    fx_init(&f, gh, NULL, NULL, "o/r", "https://github.com/o/r.git", "git@github.com:o/r.git");
    ck_assert_str_eq(policy(&f, 0, out, sizeof(out)), "https://github.com/o/r.git");
    /* Another port, another scheme, a look-alike host: the token would go there. */
    fx_init(&f, gh, NULL, NULL, "o/r", "https://github.com:8443/o/r.git", NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    fx_init(&f, gh, NULL, NULL, "o/r", "http://github.com/o/r.git", NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    fx_init(&f, gh, NULL, NULL, "o/r", "https://github.com.evil.org/o/r.git", NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    fx_init(&f, gh, NULL, NULL, "o/r", "evilhost:x://github.com/o/r.git", NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    fx_init(&f, gh, NULL, NULL, "o/r", "file://localhost/srv/mirrors/x.git", NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    /* SSH only through ssh_url: its host and port. */
    fx_init(&f, gh, NULL, NULL, "o/r", NULL, "git@github.com:o/r.git");
    ck_assert_ptr_null(policy(&f, 1, out, sizeof(out)));
    fx_init(&f, "https://dc.example", "ssh://git@dc.example:7999", NULL, "P/r",
            "https://dc.example/scm/p/r.git", "ssh://git@dc.example:7999/p/r.git");
    ck_assert_str_eq(policy(&f, 1, out, sizeof(out)), "ssh://git@dc.example:7999/p/r.git");
    fx_init(&f, "https://dc.example", "ssh://git@dc.example:7999", NULL, "P/r",
            "https://dc.example/scm/p/r.git", "ssh://git@dc.example:2222/p/r.git");
    ck_assert_str_eq(policy(&f, 1, out, sizeof(out)), "https://dc.example/scm/p/r.git");
    /* A url with a context path: clone URLs must lie under it. */
    fx_init(&f, "https://h.example/bitbucket", NULL, NULL, "P/r",
            "https://h.example/bitbucket/scm/p/r.git", NULL);
    ck_assert_str_eq(policy(&f, 0, out, sizeof(out)), "https://h.example/bitbucket/scm/p/r.git");
    fx_init(&f, "https://h.example/bitbucket", NULL, NULL, "P/r", "https://h.example/other/r.git",
            NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    /* No url: nothing is fetched. */
    fx_init(&f, NULL, NULL, NULL, "o/r", "https://github.com/o/r.git", NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
    /* The template decides, whatever the payload says. */
    fx_init(&f, NULL, NULL, "https://mirror.internal/git/{repository}.git", "o/r",
            "https://evil.example/o/r.git", NULL);
    ck_assert_str_eq(policy(&f, 0, out, sizeof(out)), "https://mirror.internal/git/o/r.git");
    fx_init(&f, NULL, NULL, "https://mirror.internal/git/{repository}.git", "o/../../r", NULL,
            NULL);
    ck_assert_ptr_null(policy(&f, 0, out, sizeof(out)));
}
END_TEST

/* The reason the policy gives for refusing, or "" when it accepts. */
static const char *refusal(struct fx *f, const struct cm_provider *p, int prefer_ssh)
{
    static char why[512];
    char out[2048], detail[1024];

    f->ep.provider = p;
    if (cm_fetch_url(&f->ep, prefer_ssh, f->ev, out, sizeof(out), why, sizeof(why), detail,
                     sizeof(detail)) == CM_OK)
        why[0] = '\0';
    cm_event_free(f->ev);
    return why;
}

/* A clone URL must name the repository its delivery is about: the name picks the mirror, so a
 * sender naming a victim with its own repository's URL would publish its code as the victim's
 * packages. The provider's clone path, or the name itself (SSH forms), regardless of case. */
START_TEST(test_policy_names_repo)
{
    struct cm_provider gh = {.abi_version = CM_ABI_VERSION, .clone_path = "{repository}.git"};
    struct cm_provider dc = {.abi_version = CM_ABI_VERSION, .clone_path = "scm/{repository}.git"};
    const char *elsewhere = "does not name the repository";
    struct fx f;

    fx_init(&f, "https://github.com", NULL, NULL, "o/r", "https://github.com/O/R.git", NULL);
    ck_assert_str_eq(refusal(&f, &gh, 0), "");
    fx_init(&f, "https://github.com", NULL, NULL, "o/r", "https://github.com/o/r", NULL);
    ck_assert_str_eq(refusal(&f, &gh, 0), "");
    fx_init(&f, "https://github.com", NULL, NULL, "o/r", "https://github.com/evil/r.git", NULL);
    ck_assert_ptr_nonnull(strstr(refusal(&f, &gh, 0), elsewhere));
    fx_init(&f, "https://github.com", NULL, NULL, "o/r", "https://github.com/o/r.git.git", NULL);
    ck_assert_ptr_nonnull(strstr(refusal(&f, &gh, 0), elsewhere));
    /* GitLab's nested groups: a group of the attacker's ending in the victim's path. */
    fx_init(&f, "https://gl.example", NULL, NULL, "g/sub/p", "https://gl.example/mine/g/sub/p.git",
            NULL);
    ck_assert_ptr_nonnull(strstr(refusal(&f, &gh, 0), elsewhere));
    fx_init(&f, "https://gl.example", NULL, NULL, "g/sub/p", "https://gl.example/g/sub/p.git",
            NULL);
    ck_assert_str_eq(refusal(&f, &gh, 0), "");
    /* Data Center: scm/ and a lowercase key over HTTP, neither over SSH; a context path. */
    fx_init(&f, "https://h.example/bitbucket", "ssh://git@h.example:7999", NULL, "PLAT/billing",
            "https://h.example/bitbucket/scm/plat/billing.git",
            "ssh://git@h.example:7999/plat/billing.git");
    ck_assert_str_eq(refusal(&f, &dc, 1), "");
    fx_init(&f, "https://h.example/bitbucket", NULL, NULL, "PLAT/billing",
            "https://h.example/bitbucket/scm/mine/tool.git", NULL);
    ck_assert_ptr_nonnull(strstr(refusal(&f, &dc, 0), elsewhere));
    fx_init(&f, "https://h.example/bitbucket", "ssh://git@h.example:7999", NULL, "PLAT/billing",
            NULL, "ssh://git@h.example:7999/mine/tool.git");
    ck_assert_ptr_nonnull(strstr(refusal(&f, &dc, 1), elsewhere));
    /* An SSH address with a path: repositories under it. */
    fx_init(&f, "https://srv.example", "ssh://git@srv.example/srv/git", NULL, "o/r", NULL,
            "ssh://git@srv.example/srv/git/o/r.git");
    ck_assert_str_eq(refusal(&f, &gh, 1), "");
    fx_init(&f, "https://srv.example", "ssh://git@srv.example/srv/git", NULL, "o/r", NULL,
            "ssh://git@srv.example/srv/other/o/r.git");
    ck_assert_str_ne(refusal(&f, &gh, 1), "");
    /* A provider without a clone path (before SDK 1.2): the path must end with the name. */
    fx_init(&f, "https://git.example", NULL, NULL, "o/r", "https://git.example/git/o/r.git", NULL);
    ck_assert_str_eq(refusal(&f, NULL, 0), "");
    fx_init(&f, "https://git.example", NULL, NULL, "o/r", "https://git.example/git/o/rr.git", NULL);
    ck_assert_ptr_nonnull(strstr(refusal(&f, NULL, 0), elsewhere));
}
END_TEST

/* Where an import fetches from: clone_url, else the provider's clone path under url, and a
 * message naming the key to set when neither gives a URL. */
START_TEST(test_import_url)
{
    struct cm_provider gh = {.abi_version = CM_ABI_VERSION, .clone_path = "{repository}.git"};
    struct cm_provider dc = {.abi_version = CM_ABI_VERSION, .clone_path = "scm/{repository}.git"};
    struct cm_provider old = {.abi_version = CM_ABI_VERSION, .clone_path = NULL};
    struct fx f;
    char out[2048], why[512], url[2048], reason[512], detail[1024];

    fx_init(&f, "https://github.com", NULL, NULL, "o/r", NULL, NULL);
    f.conf.provider = "github";
    f.ep.provider = &gh;
    ck_assert_int_eq(cm_fetch_url_import(&f.ep, "o/r", out, sizeof(out), why, sizeof(why)), CM_OK);
    ck_assert_str_eq(out, "https://github.com/o/r.git");
    /* The URL passes the fetch-URL policy as the event's clone URL. */
    cm_event_set(f.ev, CM_FIELD_CLONE_URL_HTTP, out);
    ck_assert_int_eq(cm_fetch_url(&f.ep, 0, f.ev, url, sizeof(url), reason, sizeof(reason), detail,
                                  sizeof(detail)),
                     CM_OK);
    ck_assert_str_eq(url, "https://github.com/o/r.git");
    cm_event_free(f.ev);
    /* A context path and a trailing slash: the clone path goes under the path. */
    fx_init(&f, "http://dc.example:7990/bitbucket/", NULL, NULL, "PLAT/api", NULL, NULL);
    f.ep.provider = &dc;
    ck_assert_int_eq(cm_fetch_url_import(&f.ep, "PLAT/api", out, sizeof(out), why, sizeof(why)),
                     CM_OK);
    ck_assert_str_eq(out, "http://dc.example:7990/bitbucket/scm/PLAT/api.git");
    cm_event_set(f.ev, CM_FIELD_CLONE_URL_HTTP, out);
    ck_assert_int_eq(cm_fetch_url(&f.ep, 0, f.ev, url, sizeof(url), reason, sizeof(reason), detail,
                                  sizeof(detail)),
                     CM_OK);
    cm_event_free(f.ev);
    /* clone_url wins over the provider's path. */
    fx_init(&f, "https://github.com", NULL, "git://mirror.internal/{repository}.git", "o/r", NULL,
            NULL);
    f.ep.provider = &gh;
    ck_assert_int_eq(cm_fetch_url_import(&f.ep, "o/r", out, sizeof(out), why, sizeof(why)), CM_OK);
    ck_assert_str_eq(out, "git://mirror.internal/o/r.git");
    cm_event_free(f.ev);
    /* No clone path (or a provider built before 1.2, whose descriptor ends before it). */
    fx_init(&f, "https://git.example", NULL, NULL, "o/r", NULL, NULL);
    f.conf.provider = "gitea";
    f.ep.provider = &old;
    ck_assert_int_eq(cm_fetch_url_import(&f.ep, "o/r", out, sizeof(out), why, sizeof(why)),
                     CM_EINVAL);
    ck_assert_str_eq(why,
                     "endpoint \"ep\" has no clone_url and provider gitea has no default clone "
                     "path: set clone_url");
    old.abi_version = (uint32_t)CM_ABI_MAJOR << 16 | 1;
    old.clone_path = "{repository}.git";
    ck_assert_int_eq(cm_fetch_url_import(&f.ep, "o/r", out, sizeof(out), why, sizeof(why)),
                     CM_EINVAL);
    /* No url. */
    f.ep.url = NULL;
    f.ep.provider = &gh;
    ck_assert_int_eq(cm_fetch_url_import(&f.ep, "o/r", out, sizeof(out), why, sizeof(why)),
                     CM_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "set url (or clone_url)"));
    cm_event_free(f.ev);
}
END_TEST

static const struct {
    const char *name;
    int ok;
} name_cases[] = {
    {"owner/name", 1},
    {"PLAT/billing-api", 1},
    {"~jdoe/dotfiles", 1},
    {"group/sub/sub2/project.js", 1},
    {"o/r.git", 1},
    {"o/r.git/objects", 0},
    {"a.git/b", 0},
    {"g/a.GIT/b", 0},
    {"g/a.Git/b", 0},
    {"o/../etc", 0},
    {"./x", 0},
    {"o/.", 0},
    {"/o/r", 0},
    {"o/r/", 0},
    {"o//r", 0},
    {"o/r\nINFO forged line", 0},
    {"o/r\x1b[31m", 0},
    {"o/r x", 0},
    {"o/r@evil", 0},
    {"o/r:22", 0},
    {"o/r%2f", 0},
    {"o\\r", 0},
    {"", 0},
};

START_TEST(test_repo_names)
{
    const char *why = NULL;
    int rc = cm_repo_name_check(name_cases[_i].name, &why);

    ck_assert_msg((rc == CM_OK) == name_cases[_i].ok, "%s: %s", name_cases[_i].name,
                  why ? why : "accepted");
}
END_TEST

START_TEST(test_repo_name_lengths)
{
    char name[2048];
    const char *why;

    memset(name, 'a', sizeof(name));
    name[0] = 'o';
    name[1] = '/';
    name[2 + CM_REPO_SEGMENT_MAX] = '\0';
    ck_assert_int_eq(cm_repo_name_check(name, &why), CM_OK);
    name[2 + CM_REPO_SEGMENT_MAX] = 'a';
    name[3 + CM_REPO_SEGMENT_MAX] = '\0';
    ck_assert_int_eq(cm_repo_name_check(name, &why), CM_EINVAL);
    name[3 + CM_REPO_SEGMENT_MAX] = 'a';
    for (size_t i = 100; i < sizeof(name) - 1; i += 100)
        name[i] = '/';
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(cm_repo_name_check(name, &why), CM_EINVAL);
    ck_assert(strstr(why, "1024"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("url");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_parse, 0, (int)(sizeof(parse_cases) / sizeof(parse_cases[0])));
    tcase_add_test(tc, test_origin);
    tcase_add_test(tc, test_policy);
    tcase_add_test(tc, test_policy_names_repo);
    tcase_add_test(tc, test_import_url);
    tcase_add_loop_test(tc, test_repo_names, 0, (int)(sizeof(name_cases) / sizeof(name_cases[0])));
    tcase_add_test(tc, test_repo_name_lengths);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
