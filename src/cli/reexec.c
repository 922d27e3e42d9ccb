/* reexec.c - see reexec.h. */
#include "config.h"
#include "reexec.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transgeo/transgeo_model.h"

void tg_blas_reexec_preferred(char **argv)
{
    const char *core = NULL;
    const char *done = getenv("TG_BLAS_REEXEC");
    if ((done && *done) || !argv || !tg_blas_suggest_coretype(&core)) return;
    const char *prev = getenv("OPENBLAS_CORETYPE");
    char *saved = prev ? strdup(prev) : NULL;
    if (setenv("OPENBLAS_CORETYPE", core, 1) || setenv("TG_BLAS_REEXEC", "1", 1)) goto restore;
    execv("/proc/self/exe", argv);
restore:
    /* exec failed: go on with the kernels already loaded */
    if (saved) setenv("OPENBLAS_CORETYPE", saved, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    unsetenv("TG_BLAS_REEXEC");
    free(saved);
}
