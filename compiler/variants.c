/* Code variants: alternative implementations of a unit (a statement's map or
 * a reduction over events), added next to the simple one that lower.c makes,
 * and the spec's `schedule:` that may fix one by name. */
#include <string.h>

#include "lower.h"

void add_reduction_variants(Lower *L, Stmt *st, Hoisted *h) { variants_reduction(L, st, h); }

void add_map_variants(Lower *L, Stmt *st, int unit) { variants_map(L, st, unit); }

int lower_keeps(Lower *L, int unit, const char *variant) {
  return !L->opt->keep || L->opt->keep(L->opt->keep_user, unit, variant_hash(variant));
}

void apply_schedule(Lower *L) {
  Program *p = L->p;
  Spec *s = L->s;
  for (int i = 0; i < s->schedule.len; i++) {
    ScheduleEntry *e = s->schedule.items[i];
    if (strcmp(e->variant, "auto") == 0) continue;
    int found = 0;
    /* the statement's units: its map and its reductions over events */
    for (int u = 0; u < p->nunits; u++) {
      Unit *un = &p->units[u];
      size_t n = strlen(e->target);
      if (strncmp(un->name, e->target, n) != 0 || (un->name[n] && strncmp(un->name + n, "__s", 3) != 0)) continue;
      for (int a = 0; a < un->nalts; a++)
        if (strcmp(un->alts[a].variant, e->variant) == 0 ||
            (strncmp(un->alts[a].variant, e->variant, strlen(e->variant)) == 0 &&
             un->alts[a].variant[strlen(e->variant)] == '-')) {
          un->forced = a;
          found = 1;
          break;
        }
    }
    if (!found) {
      StrBuf avail = {0};
      for (int u = 0; u < p->nunits; u++) {
        Unit *un = &p->units[u];
        size_t n = strlen(e->target);
        if (strncmp(un->name, e->target, n) != 0) continue;
        for (int a = 0; a < un->nalts; a++) sb_printf(&avail, "%s%s", avail.len ? ", " : "", un->alts[a].variant);
      }
      int line, col;
      source_line_col(&s->src, e->begin, &line, &col);
      char *list = sb_take(&avail);
      lower_fail(L, "%s:%d:%d: error: no variant '%s' for '%s' on this target (available: %s, auto)", s->src.name,
                 line, col, e->variant, e->target, *list ? list : "simple");
    }
  }
}
