/* reexec.h - the transgeo command's choice of OpenBLAS kernels. OpenBLAS
 * picks its kernel set once, when it is loaded, from the CPU or from
 * OPENBLAS_CORETYPE, and cannot change it afterwards in that process; the
 * library only says which set it would prefer (tg_blas_suggest_coretype,
 * policy TRANSGEO_BLAS_CORETYPE: transgeo(1)). A program acts on it by
 * executing itself again with OPENBLAS_CORETYPE set: that is this module's
 * job, never the library's. */
#ifndef TG_CLI_REEXEC_H
#define TG_CLI_REEXEC_H

/* First thing in main(): when tg_blas_suggest_coretype() says so, set
 * OPENBLAS_CORETYPE and re-execute /proc/self/exe with the same argv, once
 * (TG_BLAS_REEXEC=1 marks the second run). Returns only when nothing was
 * done or exec failed (the program then goes on with the kernels it has). */
void tg_blas_reexec_preferred(char **argv);

#endif
