"""``polypviewer models`` lists user models with the metadata people choose by."""

from __future__ import annotations

import json

import torch
from synthetic import TINY

from polypviewer.cli.main import main
from polypviewer.engine.models.factory import create_model
from polypviewer.engine.models.modelfile import save_model
from polypviewer.paths import user_models_dir


def _install_user_model():
    torch.manual_seed(0)
    save_model(user_models_dir() / "my-model", create_model(TINY).eval(), TINY, threshold=0.42,
               name="my-model", training={"val_dice_model_res": 0.8123, "val_iou_model_res": 0.7,
                                          "loss": "dice"})


def test_models_json_shows_user_model(capsys):
    _install_user_model()
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = [r for r in rows if r["name"] == "my-model"]
    assert len(mine) == 1
    m = mine[0]
    assert m["source"] == "user" and m["arch"] == "Unet" and m["input_size"] == 64
    assert m["threshold"] == 0.42 and m["params"] > 0 and m["weights_present"]
    assert m["val_metrics"] == {"val_dice_model_res": 0.8123, "val_iou_model_res": 0.7}


def test_models_table(capsys):
    _install_user_model()
    (user_models_dir() / "junk.json").write_text("{not json")  # ignored, not fatal
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("my-model"))
    assert "user" in line and "0.42" in line and "Dice 0.812" in line
    assert "junk" not in out
