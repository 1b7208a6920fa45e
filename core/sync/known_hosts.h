/* SPDX-License-Identifier: MIT */
/*
 * SSH host key checks against an OpenSSH known_hosts file (plain, wildcard and hashed host
 * names, @revoked), for the mirror's fetches. No libgit2 here: keys come in as raw blobs.
 */
#ifndef CM_KNOWN_HOSTS_H
#define CM_KNOWN_HOSTS_H

#include <stddef.h>

enum cm_kh_result {
    CM_KH_MATCH,   /* the host is listed with this key */
    CM_KH_UNKNOWN, /* no entry for the host with this key type */
    CM_KH_CHANGED, /* entries of this key type, none with this key */
    CM_KH_REVOKED, /* the key is marked @revoked */
    CM_KH_NOFILE   /* the file cannot be read (errno says why) */
};

/* The name known_hosts uses for host:port: "host" on port 22, else "[host]:port". */
void cm_known_hosts_name(const char *host, int port, char *out, size_t outlen);

/* Look up key (the SSH wire blob, as libssh2 gives it) for name in file. */
enum cm_kh_result cm_known_hosts_check(const char *file, const char *name, const unsigned char *key,
                                       size_t keylen);

/* "SHA256:<unpadded base64>", as ssh-keygen -l prints it, of a 32-byte digest into out
 * (at least 52 bytes). */
void cm_known_hosts_fingerprint(const unsigned char sha256[32], char *out, size_t outlen);

#endif
