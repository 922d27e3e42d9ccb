/* locate_path.h - tests' shorthand for locating one photo file through the
 * locator (open, run, copy the matches out, free), the way every front-end
 * does it. Header-only: included by the store and hardening tests. */
#ifndef TG_TEST_LOCATE_PATH_H
#define TG_TEST_LOCATE_PATH_H

#include <string.h>

#include "transgeo/locate.h"

/* Locate photo (a file) with model (NULL = the only one), k matches, an
 * optional prior. [out] out[0..*n_out), *used (may be NULL). Returns the
 * locator's code. */
static inline int locate_path(tg_ctx *ctx, tg_store *st, const char *model, const char *photo,
                              int k, const tg_store_prior *prior, tg_match *out, int *n_out,
                              tg_store_model *used)
{
    *n_out = 0;
    tg_locate_opts o;
    tg_locate_opts_default(&o);
    o.model = model;
    o.k = k;
    o.prior = prior;
    tg_locator *loc = NULL;
    tg_locate_answer ans = {0};
    tg_locate_input in = {.path = photo};
    int rc = tg_locator_open(ctx, st, &o, &loc);
    if (!rc) rc = tg_locator_run(loc, ctx, &in, &ans);
    if (!rc) {
        memcpy(out, ans.matches, (size_t)ans.n_matches * sizeof *out);
        *n_out = ans.n_matches;
        if (used) *used = *tg_locator_model(loc);
    }
    tg_locate_answer_clear(&ans);
    tg_locator_free(loc);
    return rc;
}

#endif
