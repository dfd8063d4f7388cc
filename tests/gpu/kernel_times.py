"""Per kernel name, from Nsight Compute's --csv output of a fit
(tests/gpu/kernel_times.sh): launches, the mean duration of the last three,
the launch shape and registers; then the sum over the kernels launched at
least four times (those of every EM iteration)."""
import collections
import csv
import sys

rows = list(csv.reader(open(sys.argv[1])))
head = next(i for i, r in enumerate(rows) if "Kernel Name" in r and "Metric Name" in r)
h = rows[head]
ki, mi, vi, idi = h.index("Kernel Name"), h.index("Metric Name"), h.index("Metric Value"), h.index("ID")
launch = collections.defaultdict(dict)
for r in rows[head + 1:]:
    if len(r) > vi:
        launch[int(r[idi])][r[mi]] = r[vi]
        launch[int(r[idi])]["name"] = r[ki].split("(")[0]
by = collections.OrderedDict()
for i in sorted(launch):
    m = launch[i]
    ns = float(m.get("gpu__time_duration.sum", "0").replace(",", ""))
    by.setdefault(m["name"], []).append((ns, m.get("launch__grid_size"), m.get("launch__block_size"),
                                         m.get("launch__registers_per_thread")))
total = 0.0
for name, v in by.items():
    last = [x[0] for x in v[-3:]]
    mean = sum(last) / len(last)
    if len(v) >= 4:
        total += mean
    print(f"{name[:60]:60s} {len(v):3d} launches, {mean / 1000:8.2f} us (last 3), grid {v[-1][1]}, "
          f"block {v[-1][2]}, {v[-1][3]} registers")
print(f"kernels of an iteration (launched 4 times or more): {total / 1000:.2f} us")
