/* The spec's `schedule:`: fixes a unit's alternative (a code variant, or
 * the simple one that lower.c makes) by name, or says which there are. */
#include <stdlib.h>
#include <string.h>

#include "lower.h"

/* Whether a unit belongs to the statement that defines `target`: its map
 * (named after the target) or one of its reductions over events ("T__s..."). */
static int unit_of_statement(const Unit *un, const char *target) {
  size_t n = strlen(target);
  return strncmp(un->name, target, n) == 0 && (!un->name[n] || strncmp(un->name + n, "__s", 3) == 0);
}

/* `variant` names the alternative itself or its family ("tiled" for "tiled-64x32"). */
static int variant_matches(const char *alt, const char *variant) {
  size_t n = strlen(variant);
  return strncmp(alt, variant, n) == 0 && (!alt[n] || alt[n] == '-');
}

/* The statement's variants for the error message, each once, in the program's
 * arena: lower_fail does not return, so nothing may be left on the heap. */
static const char *available_variants(Program *p, const char *target) {
  StrBuf sb = {0};
  sb_printf(&sb, "simple");
  for (int u = 0; u < p->nunits; u++) {
    if (!unit_of_statement(&p->units[u], target)) continue;
    for (int a = 0; a < p->units[u].nalts; a++) {
      const char *v = p->units[u].alts[a].variant;
      size_t n = strlen(v);
      int seen = 0;
      for (const char *at = sb.data; !seen && (at = strstr(at, v)); at += n)
        seen = (at == sb.data || at[-1] == ' ') && (!at[n] || at[n] == ',');
      if (!seen) sb_printf(&sb, ", %s", v);
    }
  }
  return arena_take(&p->arena, &sb);
}

void apply_schedule(Lower *L) {
  Program *p = L->p;
  Spec *s = L->s;
  for (int i = 0; i < s->schedule.len; i++) {
    ScheduleEntry *e = s->schedule.items[i];
    if (strcmp(e->variant, "auto") == 0) continue;
    int found = 0;
    for (int u = 0; u < p->nunits; u++) {
      Unit *un = &p->units[u];
      if (!unit_of_statement(un, e->target)) continue;
      for (int a = 0; a < un->nalts; a++)
        if (variant_matches(un->alts[a].variant, e->variant)) {
          un->forced = a;
          found = 1;
          break;
        }
    }
    if (!found)
      lower_fail_at(L, e->begin, e->end, "no variant '%s' for '%s' on this target (available: %s, auto)", e->variant,
                    e->target, available_variants(p, e->target));
  }
}
