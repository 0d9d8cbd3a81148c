import json
import subprocess
import sys

import vecpress as vp
from vecpress.cli import main, run_demo


def test_demo_reports_every_index(capsys):
    rows = run_demo(k=10)
    out = capsys.readouterr().out
    assert "recall@10" in out and "QPS" in out and "bytes/vec" in out
    names = [r["index"] for r in rows]
    assert any("exact" in n for n in names) and any("matryoshka" in n for n in names)
    assert any("binary" in n for n in names)
    by = {r["index"]: r for r in rows}
    assert by["exact (FlatIndex)"]["recall@10"] == 1.0
    assert by["matryoshka 128->384, pca"]["recall@10"] >= 0.95
    assert by["RaBitQ 1 bit/dim + rerank 100"]["recall@10"] >= 0.95
    assert all(r["qps"] > 0 for r in rows)


def test_info_on_file_and_build(sample, tmp_path, capsys):
    idx = vp.FlatIndex(384)
    idx.add(sample.base[:10])
    idx.save(tmp_path / "f.vp")
    assert main(["info", str(tmp_path / "f.vp")]) == 0
    out = capsys.readouterr().out
    assert "FlatIndex" in out and "vectors: 10" in out
    assert main(["info"]) == 0
    assert json.loads(capsys.readouterr().out)["simd_level"] == vp.simd_level()
    (tmp_path / "junk").write_bytes(b"junk")
    assert main(["info", str(tmp_path / "junk")]) == 2
    assert "vecpress index" in capsys.readouterr().err


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "vecpress", "info"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "simd_level" in r.stdout
