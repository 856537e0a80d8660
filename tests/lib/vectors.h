/*
 * tests/lib/vectors.h - loader for the known-answer files in tests/vectors.
 *
 * Layer: tests only. File format (documented again at the top of each file):
 * one case per block of `name = value` lines; blocks are separated by blank
 * lines; a line whose first non-blank character is '#' is a comment and does
 * not end a block. Names are [A-Za-z0-9_]; the value is the rest of the line
 * after " = " with surrounding blanks removed. Values are kept as text and
 * hex-decoded on demand.
 *
 * The vectors directory is $M2MSEC_VECTORS (CTest sets it) or, failing that,
 * tests/vectors next to this file in the source tree.
 */
#ifndef M2MSEC_TESTS_VECTORS_H
#define M2MSEC_TESTS_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#define T_VEC_MAX_FIELDS 16

struct t_vec_field {
    char *name;
    char *value;
};

struct t_vec_case {
    unsigned line; /* line of the first field, for failure messages */
    size_t nfields;
    struct t_vec_field field[T_VEC_MAX_FIELDS];
};

struct t_vec_file {
    char *path;
    size_t ncases;
    struct t_vec_case *cases;
};

/* Directory holding the vector files (borrowed, static). */
const char *t_vec_dir(void);
/* Load <dir>/<name>. NULL (and a message on stderr) on any I/O or syntax error. */
struct t_vec_file *t_vec_load(const char *name);
void t_vec_free(struct t_vec_file *f);
/* Value of field name, or NULL when the case has none. */
const char *t_vec_get(const struct t_vec_case *c, const char *name);
/*
 * Hex-decode field name (either case) into a malloc'd buffer with one spare
 * NUL byte after the data, so decoded text can be used as a C string.
 * 0, or -1 (message on stderr) when the field is missing or not even-length hex.
 */
int t_vec_hex(const struct t_vec_case *c, const char *name, uint8_t **out, size_t *outlen);
/* Decode a hex string the same way (for literals in tests). */
int t_vec_unhex(const char *hex, uint8_t **out, size_t *outlen);

#endif
