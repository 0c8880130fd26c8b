"""``python -m training`` under torchrun: two CPU processes (gloo), rank 0 writes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from synthetic import write_dataset
from training_helpers import TINY_ARGS


@pytest.mark.timeout(600)
def test_two_process_gloo_smoke(tmp_path):
    ds = write_dataset(tmp_path / "ds", n=8)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "training", str(ds), "--out", str(out), "--epochs", "1", "--val-fraction", "0.25",
           "--events", "jsonl", *TINY_ARGS]
    # own session: on a timeout the whole group (torchrun and both workers) is killed
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=580)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun did not finish: {stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    started = [e for e in events if e["kind"] == "run_started"]
    assert len(started) == 1  # only rank 0 reports
    assert started[0]["data"]["n_train"] == 6
    assert [e["kind"] for e in events].count("finished") == 1
    assert (out / "model.safetensors").is_file() and (out / "model.json").is_file()
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 1
