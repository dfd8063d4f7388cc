# Reads `gmmc bench` output; prints per unit the fastest measured variant,
# the automatic choice and their ratio (tests/gpu/auto_check.sh).
function flush() { if (unit != "" && best > 0) printf "%-20s best %-18s %8.4f  auto %-18s %8.4f  ratio %.3f\n", unit, bestv, best, autov, automs, automs / best; }
/^unit/ { next }
/^EM iteration/ { flush(); unit = ""; print; next }
/^[A-Za-z_]/ && NF >= 3 { flush(); unit = $1; best = 0; automs = 0; v = $2; m = $3 }
/^ / && NF >= 2 { v = $1; m = $2 }
unit != "" && m ~ /^[0-9.]+$/ { ms = m + 0; if (best == 0 || ms < best) { best = ms; bestv = v } if ($0 ~ /<- auto/) { automs = ms; autov = v } m = "" }
