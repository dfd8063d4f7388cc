/* Fault injection for the robustness tests, as SQLite does it: in a build
 * with GMMC_FAULT_INJECTION (tools/sanitize.sh makes one) the N-th
 * allocation, file write or CUDA driver call after fault_arm fails, and every
 * call is counted with its site. In other builds fault_hit is the constant 0
 * and nothing here exists. */
#ifndef GMMC_FAULT_H
#define GMMC_FAULT_H

typedef enum { FAULT_ALLOC, FAULT_WRITE, FAULT_DRIVER, FAULT_KINDS } FaultKind;

#ifdef GMMC_FAULT_INJECTION
/* 1 when this call is to fail; site names the call ("file:line" or a driver
 * function's name). */
int fault_hit(FaultKind kind, const char *site);
/* Counting restarts; the nth call from now fails (nth 0: none fails). */
void fault_arm(FaultKind kind, long nth);
/* Calls since the last fault_arm, and whether the armed one was reached. */
long fault_calls(FaultKind kind);
int fault_fired(FaultKind kind);
/* The site of the nth call (1-based) since the last fault_arm; NULL past the end. */
const char *fault_site(FaultKind kind, long nth);
#else
#define fault_hit(kind, site) 0
#endif

#endif
