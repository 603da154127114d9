"""The reference suite's runner and report (workloads/suite.py, workloads/report.py): the plan,
step selection, the roll-up that never overwrites, a failing step that does not stop the
others, and README ratios computed from the roll-up's figures."""
from __future__ import annotations

import json

import pytest

import bench_dlio
import report
import suite
from harness.tables import Headline


def test_plan_prints_steps_and_duration(capsys):
    assert suite.main(["--plan"]) == 0
    out = capsys.readouterr().out
    assert "Suite plan (full)" in out and "min" in out
    for s in suite.STEPS:
        assert s.name in out
    assert suite.main(["--plan", "--quick"]) == 0
    quick = capsys.readouterr().out
    assert "dataloader" not in quick and "core-read" in quick and "dlio" in quick
    est = sum(s.est_quick_s for s in suite.STEPS if s.quick is not None)
    assert est < 300, "the quick plan must fit 5 minutes"


def test_unknown_step_is_named():
    with pytest.raises(SystemExit, match="unknown step.*nosuch"):
        suite.main(["--plan", "--only", "scan,nosuch"])


def test_daos_flag_needs_the_dfuse_mount(tmp_path):
    with pytest.raises(SystemExit, match="--dfuse"):
        suite.main(["--only", "scan", "--daos", "pool/cont", "--out", str(tmp_path)])


def test_rollup_never_overwrites(tmp_path):
    first = suite.rollup_path(tmp_path, "2026-01-02", "host", False)
    first.write_text("{}")
    second = suite.rollup_path(tmp_path, "2026-01-02", "host", False)
    assert second.name == "2026-01-02-host-2.json"
    assert suite.rollup_path(tmp_path, "2026-01-02", "host", True).name == "2026-01-02-host-quick.json"


def test_failing_step_is_recorded_and_others_run(tmp_path, monkeypatch):
    script = tmp_path / "fake_bench.py"
    script.write_text("import sys, json, pathlib\n"
                      "a = sys.argv\n"
                      "out = pathlib.Path(a[a.index('--out') + 1])\n"
                      "if '--fail' in a: print('boom'); sys.exit(3)\n"
                      "(out / 'x.json').write_text(json.dumps({'benchmark': 'fake', 'value': 42}))\n")
    steps = [suite.Step("bad", "fails", str(script), ["--fail"], ["--fail"], 1, 1),
             suite.Step("good", "works", str(script), [], [], 1, 1)]
    monkeypatch.setattr(suite, "STEPS", steps)
    monkeypatch.setattr(suite, "HERE", tmp_path)
    rc = suite.main(["--out", str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch"), "--no-report"])
    assert rc == 1
    (rollup_file,) = (tmp_path / "res").glob("*.json")
    rollup = json.loads(rollup_file.read_text())
    assert rollup["mode"] == "full" and rollup["machine"]["nproc"] >= 1
    assert rollup["steps"]["bad"]["rc"] == 3 and "boom" in rollup["steps"]["bad"]["log_tail"]
    assert rollup["steps"]["good"]["rc"] == 0 and rollup["steps"]["good"]["result"]["value"] == 42


def arm(key: str, family: str, medians: list, metric: str = "gib_per_s") -> dict:
    raw = [{"round": i, metric: v} for i, v in enumerate(medians)]
    s = sorted(medians)
    return {"key": key, "label": key, "family": family, "stats_over": f"{len(s)} runs", "raw": raw,
            metric: {"median": s[len(s) // 2], "min": s[0], "max": s[-1]}}


def test_report_ratios_come_from_the_rollup(tmp_path):
    plain = arm("save-plain", "plain", [1.0, 2.0, 4.0])
    ours = arm("save-pydaos", "pydaos", [3.0, 5.0, 6.0])
    dd = arm("save-dd", "dd", [8.0, 8.0, 8.0])
    table = {"op": "save", "durability": "fsync", "scenario": "new", "size_gib": 1.0, "arms": [plain, ours, dd]}
    machine = {"nproc": 2, "cpu_model": "cpu", "mem_total": "1 kB", "kernel": "k", "python": "3", "torch": "t",
               "numpy": "n", "git_commit": "0" * 40, "git_dirty_paths": []}
    rollup = {"suite": "s", "mode": "full", "date": "2026-01-02", "started": "2026-01-02T00:00:00",
              "command": "suite.py", "machine": machine, "site": None,
              "steps": {"checkpoint": {"command": "bench_checkpoint.py", "rc": 0, "seconds": 1.0, "log_tail": [],
                                       "result": {"tables": [table]}}}}
    path = tmp_path / "2026-01-02-host.json"
    path.write_text(json.dumps(rollup))
    (tmp_path / "README.md").write_text("# Benchmark results\n\nkept by hand\n")
    readme, plots = report.publish(path, tmp_path)
    text = readme.read_text()
    # median 5 / median 2 = 2.50; per-round ratios 3, 2.5, 1.5 -> paired median 2.50, range 1.50-3.00
    assert "**2.50x** (2.50, 1.50–3.00)" in text
    assert "kept by hand" in text and text.index("suite:begin") < text.index("kept by hand")
    assert all(p.exists() and p.stat().st_size > 0 for p in plots)
    report.publish(path, tmp_path)  # rewriting replaces the section, does not add another
    assert readme.read_text().count("suite:begin") == 1


def test_resume_runs_only_missing_or_failed_steps(tmp_path, monkeypatch):
    script = tmp_path / "fake_bench.py"
    script.write_text("import sys, json, pathlib\n"
                      "a = sys.argv\n"
                      "out = pathlib.Path(a[a.index('--out') + 1])\n"
                      "(out / 'x.json').write_text(json.dumps({'benchmark': 'fake', 'argv': a[1:]}))\n")
    steps = [suite.Step(n, n, str(script), [n], [n], 1, 1) for n in ("one", "two", "three")]
    monkeypatch.setattr(suite, "STEPS", steps)
    monkeypatch.setattr(suite, "HERE", tmp_path)
    common = ["--out", str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch"), "--no-report"]
    assert suite.main(["--only", "one,two", *common]) == 0
    (path,) = (tmp_path / "res").glob("*.json")
    first = json.loads(path.read_text())
    first["steps"]["two"]["rc"] = 5  # as if it had failed
    path.write_text(json.dumps(first))
    with pytest.raises(SystemExit, match="same mode"):
        suite.main(["--quick", "--resume", str(path), *common])
    assert suite.main(["--resume", str(path), *common]) == 0
    assert len(list((tmp_path / "res").glob("*.json"))) == 1
    done = json.loads(path.read_text())
    assert set(done["steps"]) == {"one", "two", "three"}
    assert done["steps"]["two"]["rc"] == 0 and done["steps"]["one"] == first["steps"]["one"]
    assert len(done["parts"]) == 1 and "--resume" in done["parts"][0]["command"]


def test_dlio_threshold_brackets_from_probes():
    probes = {"unet3d/ours-np1": [{"ct": 0.04, "median_au": 93.0}, {"ct": 0.01, "median_au": 80.0},
                                  {"ct": 0.02, "median_au": 91.0}],
              "unet3d/stock-np1": [{"ct": 0.04, "median_au": 70.0}, {"ct": 0.12, "median_au": 95.0}]}
    res = {"bisection": probes, "workloads": {"unet3d": {"au_target": 90.0, "lo": 0.004, "hi": 0.3}}, "runs": []}
    br = bench_dlio.dlio_brackets(res)
    assert br[("unet3d", "ours", 1)][:2] == (0.01, 0.02)
    assert br[("unet3d", "stock", 1)][:2] == (0.04, 0.12)
    hl = Headline()
    text = "\n".join(bench_dlio.dlio_bisection(res, hl))
    # stock/ours threshold lies in [0.04 / 0.02, 0.12 / 0.01] = [2.00, 12.00]
    assert "[2.00, 12.00]" in text and "[2.00, 12.00]" in hl.table()


def test_a_step_can_continue_from_the_rollup(tmp_path):
    step = suite.Step("more", "continues", "bench_dlio.py", None, ["--start", "{rollup}", "--x"], 0, 1)
    argv = suite.step_argv(step, False, tmp_path / "out", tmp_path / "r.json")
    assert argv[-6:] == ["--start", str(tmp_path / "r.json"), "--x", "--out", str(tmp_path / "out"), "--no-readme"]


def test_report_merges_the_bisection_continuation():
    first = {"bisection": {"unet3d/ours-np1": [{"ct": 0.04, "median_au": 93.0}]}, "runs": []}
    more = {"bisection": {"unet3d/ours-np1": [{"ct": 0.02, "median_au": 91.0}]}, "runs": []}
    rollup = {"steps": {"dlio": {"result": first}, "dlio-bisect": {"result": more}}}
    merged = report.merge_bisection(rollup)
    assert [p["ct"] for p in merged["steps"]["dlio"]["result"]["bisection"]["unet3d/ours-np1"]] == [0.04, 0.02]
    assert "bisection" not in merged["steps"]["dlio-bisect"]["result"]
    assert len(first["bisection"]["unet3d/ours-np1"]) == 1  # the roll-up itself is not changed


def test_bisection_stops_once_the_ratio_is_decided():
    import bench_dlio
    state = {("unet3d", "ours", 1): [0.027, 0.036], ("unet3d", "stock", 1): [0.047, 0.062]}
    assert not bench_dlio.decided(state, "unet3d", 1, 1.5)   # [1.31, 2.30] straddles 1.5
    state[("unet3d", "stock", 1)] = [0.054, 0.062]
    assert bench_dlio.decided(state, "unet3d", 1, 1.5)       # 0.054 / 0.036 = 1.5: met
    state[("unet3d", "stock", 1)] = [0.030, 0.039]
    assert bench_dlio.decided(state, "unet3d", 1, 1.5)       # at most 0.039 / 0.027 = 1.44: missed
    assert not bench_dlio.decided(state, "unet3d", 1, 0)     # 0: never decided, every step runs


def test_bad_rollups_are_named(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(SystemExit, match="none.json: cannot read"):
        suite.main(["--resume", str(missing), "--no-report"])
    cut = tmp_path / "cut.json"
    cut.write_text('{"steps": {')
    with pytest.raises(SystemExit, match="cut.json: not JSON"):
        report.main([str(cut), "--results", str(tmp_path)])
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"benchmark": "scan"}))
    with pytest.raises(SystemExit, match="not a suite roll-up"):
        report.main([str(single), "--results", str(tmp_path)])


def test_newest_full_rollup_counts_resumed_parts(tmp_path):
    """A roll-up copied and resumed with new steps keeps its first "started"; it is still the
    newest one the report picks, by its latest part (a quick run never is)."""
    def write(name, started, parts=()):
        body = {"suite": 1, "mode": "full", "steps": {}, "started": started,
                "parts": [{"started": s} for s in parts]}
        (tmp_path / name).write_text(json.dumps(body))
    write("2026-11-26-vm.json", "2026-11-26T04:00:00")
    write("2026-11-26-vm-2.json", "2026-11-26T04:00:00", ["2026-11-26T07:00:00"])
    write("2026-11-26-vm-quick.json", "2026-11-26T08:00:00")
    assert report.newest_full(tmp_path).name == "2026-11-26-vm-2.json"
    write("2026-11-27-vm.json", "2026-11-27T01:00:00")
    assert report.newest_full(tmp_path).name == "2026-11-27-vm.json"


def test_report_names_each_resumed_part():
    rollup = {"parts": [{"started": "T1", "machine": {"git_commit": "abcdef1234567", "git_dirty_paths": []},
                         "plan": [{"name": "checkpoint"}, {"name": "dataloader"}]}]}
    line = report.parts_line(rollup)
    assert "2 parts" in line and "T1 at git abcdef1234 (checkpoint, dataloader)" in line
    assert report.parts_line({}) == ""
