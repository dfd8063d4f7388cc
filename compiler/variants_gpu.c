/* GPU code variants (filled in by the tiled generators). */
#include "lower.h"

void variants_reduction(Lower *L, Stmt *st, Hoisted *h) { (void)L, (void)st, (void)h; }
void variants_map(Lower *L, Stmt *st, int unit) { (void)L, (void)st, (void)unit; }
