/*
 * audit.h - the tamper-evident audit chain: canonical records and HMACs.
 *
 * The audit_chain filter stamps each record with "audit": {"seq": N,
 * "hmac": H} where
 *
 *   H(N) = hex(HMAC-SHA256(key, H(N-1) || canonical(record)))
 *
 * H(0) is the empty string, and canonical(record) is the compact JSON of
 * the record with audit.seq and audit.hmac left out (an "audit" object that
 * is then empty is left out too), object keys sorted by their bytes at
 * every depth (members with the same key keep their order), strings
 * escaped as sl_json_write_string does and numbers written as their
 * original text.  `sluice audit verify` recomputes the chain from NDJSON
 * with the same functions (docs/records.md).  Any thread.
 */
#ifndef SLUICE_AUDIT_H
#define SLUICE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "json.h"
#include "str.h"

#define SL_AUDIT_HMAC_HEX 64
#define SL_AUDIT_KEY_MIN  16
#define SL_AUDIT_KEY_MAX  4096

/* Appends canonical(<rec>) to <out>; temporary arrays come from <a>.
 * Returns SL_OK, SL_ENOMEM or SL_ELIMIT. */
int sl_audit_canonical(const struct sl_json *rec, struct sl_arena *a,
                       struct sl_buf *out);

/* Writes the 64 hex digits (and a NUL) of HMAC-SHA256(<key>, <prev> ||
 * <canonical>) into <hex>.  Returns SL_OK or SL_EIO. */
int sl_audit_hmac(struct sl_str key, struct sl_str prev,
                  struct sl_str canonical, char hex[SL_AUDIT_HMAC_HEX + 1]);

/* Reads the key from file <path> into <key> (trailing CR/LF removed).  The
 * key must be SL_AUDIT_KEY_MIN..SL_AUDIT_KEY_MAX bytes.  Never puts key
 * bytes in <err>.  Returns SL_OK or an error with <err>. */
int sl_audit_key_load(const char *path, struct sl_buf *key, struct sl_err *err);

/* `sluice audit verify --key-file K [--ignore-key NAME]... [--partial]
 * FILE...`: <argv>[0] is "verify".  Returns the process exit code: 0 when
 * every chain verifies, 1 at the first gap, reorder or alteration (the
 * sequence number is printed), 2 on a usage or I/O error. */
int sl_audit_main(int argc, char **argv);

#endif
