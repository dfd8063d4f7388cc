"""The Python examples run (at small sizes): drop_in.py's two processes agree, time_overhead.py reports."""
import json
import os
import subprocess
import sys

from conftest import PYTHON_DIR, REPO

EXAMPLES = os.path.join(REPO, "examples", "python")


def run(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, GMMC_BACKEND="host")
    return subprocess.run([sys.executable] + args, env=env, cwd=str(tmp_path), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def test_drop_in_example(tmp_path):
    out = run([os.path.join(EXAMPLES, "drop_in.py"), "--n-samples", "4000", "--n-features", "3",
               "--n-components", "4"], tmp_path).stdout
    print(out)
    assert "labels agree on 100.000 %" in out or "labels agree on 99.9" in out
    assert " sklearn: fit" in out and "    gmmc: fit" in out


def test_time_overhead_example(tmp_path):
    result = tmp_path / "result.json"
    done = run([os.path.join(EXAMPLES, "time_overhead.py"), "--n-samples", "5000", "--n-features", "4",
                "--n-components", "4", "--max-iter", "5", "--repeat", "1", "--sklearn-iters", "1",
                "--device", "cpu", "--json", str(result)], tmp_path)
    print(done.stdout)
    assert "Python overhead per EM iteration" in done.stdout
    assert "Warning" not in done.stderr, done.stderr
    r = json.loads(result.read_text())
    g = r["gmmc"]
    assert g["n_iter"] == 5 and g["wall"] >= g["in_c"] >= g["iterations"] > 0
    assert g["glue_per_iter"] > 0
    assert r["sklearn"]["fit_1"] > 0  # its per-iteration difference is noise at this size


def test_diarization_example(tmp_path):
    """The BIC-merging diarization with gmmc.fit_many, small: it merges, and its clusters are mostly one speaker
    each (the synthetic speakers are far apart; seed 0 is fixed, the host's fits are deterministic)."""
    out = run([os.path.join(EXAMPLES, "diarization.py"), "--frames", "3000", "--speakers", "3", "--device", "cpu",
               "--seed", "0"], tmp_path).stdout
    print(out)
    assert "merged" in out
    last = out.strip().splitlines()[-1]
    found = int(last.split(" found")[0].split()[-1])
    purity = float(last.split("purity ")[1].split(";")[0])
    assert 3 <= found <= 6 and purity >= 0.85, last
    assert "fit_many calls" in last
