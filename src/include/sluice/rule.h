/*
 * rule.h - conditions on a record field, for filters: "KEY", "KEY VALUE"
 * and "KEY REGEX" entries parsed from options, compiled once at init
 * (record accessor, PCRE2 pattern with JIT when available) and tested per
 * record against the text of the field (sl_json_scalar_text).
 *
 * A filter splits its entries with sl_rule_split, checks their shape
 * (its own messages), builds a struct sl_rule with sl_rule_compile (or
 * sl_rule_accessor and sl_rule_arg apart), and per record calls
 * sl_rule_holds with a struct sl_rule_scratch it owns.  A missing key
 * makes every test false except SL_RULE_ABSENT.
 *
 * Rules are read-only after init.  The scratch (text buffer and PCRE2
 * match data) is written by every test, so each thread needs its own;
 * filters run on the main thread and keep one per instance.
 */
#ifndef SLUICE_RULE_H
#define SLUICE_RULE_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "str.h"

enum sl_rule_op {
    SL_RULE_EXISTS,  /* KEY: the key is present */
    SL_RULE_ABSENT,  /* KEY: the key is absent */
    SL_RULE_EQUALS,  /* KEY VALUE: the text of KEY is VALUE */
    SL_RULE_DIFFERS, /* KEY VALUE: KEY is present, its text is not VALUE */
    SL_RULE_MATCHES, /* KEY REGEX: the text of KEY matches REGEX */
};

struct sl_rule {
    enum sl_rule_op op;
    struct sl_accessor key;
    char *value; /* SL_RULE_EQUALS, SL_RULE_DIFFERS; NUL-terminated */
    size_t value_len;
    pcre2_code *re; /* SL_RULE_MATCHES */
};

/* Where an entry comes from, for error messages. */
struct sl_rule_src {
    const char *who;   /* the plugin name that starts each message */
    const char *entry; /* the whole option value, quoted in messages */
};

/* What a rule test writes: the field's text and PCRE2's match data. */
struct sl_rule_scratch {
    struct sl_buf text;
    pcre2_match_data *md;
};

/* Splits <s> into its first word and the rest: blanks (space, tab) before
 * the word and between it and the rest are skipped, and a blank inside
 * quotes (' or ") does not end the word, so accessors like $a['b c'] stay
 * whole.  <word> and <rest> point into <s>; either may be empty, <rest>
 * keeps its inner and trailing blanks and ends at the NUL of <s>. */
void sl_rule_split(const char *s, struct sl_str *word, struct sl_str *rest);

/* Compiles <text> into <acc> (sl_accessor_compile on a copy).  SL_OK, the
 * accessor's error, or SL_ENOMEM ("<who>: out of memory"). */
int sl_rule_accessor(struct sl_accessor *acc, struct sl_str text,
                     const char *who, struct sl_err *err);

/* Compiles the PCRE2 pattern <pat> (UTF, invalid UTF allowed in subjects)
 * into *<re> and JIT-compiles it when it can.  SL_OK, or SL_ECONFIG with
 * the message <fmt>... followed by " at offset N: PCRE2's message". */
int sl_rule_regex(pcre2_code **re, struct sl_str pat, struct sl_err *err,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sets <r>'s op to <op> and compiles its argument <arg>: a copy of VALUE,
 * or REGEX (error "<who>: invalid regex in '<entry>' at offset ...");
 * nothing for SL_RULE_EXISTS and SL_RULE_ABSENT.  The caller has checked
 * that <arg> has the shape <op> wants.  SL_OK, SL_ECONFIG or SL_ENOMEM. */
int sl_rule_arg(struct sl_rule *r, enum sl_rule_op op, struct sl_str arg,
                const struct sl_rule_src *src, struct sl_err *err);

/* sl_rule_accessor on <key>, then sl_rule_arg.  On failure <r> may hold
 * part of the rule: sl_rule_fini frees it.  <r> must start zeroed. */
int sl_rule_compile(struct sl_rule *r, enum sl_rule_op op, struct sl_str key,
                    struct sl_str arg, const struct sl_rule_src *src,
                    struct sl_err *err);

/* Frees what <r> holds and zeroes it; safe on a zeroed or freed rule. */
void sl_rule_fini(struct sl_rule *r);

/* sl_rule_fini on the first <n> rules of the array <rules>, then frees the
 * array (sl_malloc'd; may be NULL). */
void sl_rule_free_array(struct sl_rule *rules, size_t n);

/* Prepares <s>.  SL_OK or SL_ENOMEM (then <s> needs no fini). */
int sl_rule_scratch_init(struct sl_rule_scratch *s);
void sl_rule_scratch_fini(struct sl_rule_scratch *s);

/* True when <re> matches <text> (which may be SL_STR_NULL). */
bool sl_rule_match(struct sl_rule_scratch *s, const pcre2_code *re,
                   struct sl_str text);

/* True when <r> holds for the record <dom>.  False also when the field's
 * text cannot be made (out of memory). */
bool sl_rule_holds(const struct sl_rule *r, const struct sl_json *dom,
                   struct sl_rule_scratch *s);

#endif
