"""Configs per model: field metadata, the version-1 reader, per-model flags, and the run folder's safety."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mambarec.catalog import read_run
from mambarec.checkpoint import FORMAT, load_checkpoint, load_model, restore_trainer
from mambarec.cli import build_parser, main, run_config_from_args
from mambarec.config import (
    MODEL_CONFIGS,
    SCHEDULES,
    BPRConfig,
    ConfigError,
    LightGCNConfig,
    MambaRecConfig,
    MGCNConfig,
    RunConfig,
    TrainConfig,
    help_text,
    make_run,
    mambarec_preset,
    migrate_v1,
    setup_label,
)
from mambarec.data import load_dataset
from mambarec.evaluate import evaluate_model
from mambarec.train import Trainer
from tests.fresh import modules_after

ROOT = Path(__file__).resolve().parents[1]


def test_every_field_of_every_config_documents_itself():
    for cls in (*MODEL_CONFIGS.values(), TrainConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), (f"{cls.__name__}.{f.name} has no help: declare it with "
                                              "param(default, help, ...) (mambarec/config/fields.py)")
    assert help_text(MambaRecConfig, "sigma").startswith("sigma: Gaussian kernel bandwidth")
    assert "(>= 1e-06)" in help_text(MambaRecConfig, "sigma")
    with pytest.raises(ConfigError, match=r"sigma must be >= 1e-06, got -1"):
        mambarec_preset("paper", sigma=-1)
    with pytest.raises(ConfigError, match=r"sigma must be >= 1e-06, got 1e-30"):  # a crash in the loss (audit r75)
        mambarec_preset("paper", sigma=1e-30)
    with pytest.raises(ConfigError, match="edge_dropout must be in"):
        MODEL_CONFIGS["freedom"](edge_dropout=1.0)


def _v1(model_name: str, **model) -> dict:
    base = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(MambaRecConfig()).items()}
    return {"dataset": "synthetic", "model_name": model_name, "model": {**base, **model},
            "train": dataclasses.asdict(TrainConfig())}


V1_MGCN_PRESET = dict(variant="mgcn", text_path="direct", freeze_features=False, dream_map="vector",
                      dilation_rates=[6, 12, 18], attention_style="official", bn_momentum=0.1, mmd_items="batch",
                      tau=0.2, cl_views="side-content", use_dream=False, use_mmd=False, modal_norm_dropout=False,
                      n_ui_layers=2, reduction_factor=1)


def test_version_1_configs_are_read():
    mgcn = RunConfig.from_dict(_v1("mambarec", **V1_MGCN_PRESET, embedding_dim=32))
    assert mgcn.model_name == "mgcn" and mgcn.model == MGCNConfig(embedding_dim=32)
    tweaked = RunConfig.from_dict(_v1("mambarec", **{**V1_MGCN_PRESET, "use_mmd": True}))  # not MGCN any more
    assert tweaked.model_name == "mambarec" and tweaked.model == mambarec_preset("backbone", use_mmd=True)
    builder_replaced = RunConfig.from_dict(_v1("mgcn", variant="paper", embedding_dim=16, knn_k=5))
    assert builder_replaced.model == MGCNConfig(embedding_dim=16, knn_k=5)  # what the v1 builder trained
    lgcn = RunConfig.from_dict(_v1("lightgcn", embedding_dim=8))
    assert lgcn.model == LightGCNConfig(embedding_dim=8)  # v1 used d only; n_layers/reg_weight were fixed
    paper = RunConfig.from_dict(_v1("mambarec", sigma=1.5))
    assert paper.model == mambarec_preset("paper", sigma=1.5)
    assert migrate_v1(_v1("pop"))["model"] == {}
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict({**_v1("bpr"), "colour": "red"})


def test_a_version_1_checkpoint_of_mgcn_loads_as_mgcn_and_reproduces_its_metrics(tmp_path):
    """Format 1 stored MGCN as model mambarec with the mgcn preset's fields (the shipped grid once held such
    checkpoints): it loads as model mgcn, its weights in place."""
    ds = load_dataset("synthetic", n_users=40, n_items=30)
    run = RunConfig(dataset="synthetic", model_name="mgcn", model=MGCNConfig(embedding_dim=16),
                    train=TrainConfig(epochs=2, batch_size=256, seed=3))
    trainer = Trainer.for_run(run, ds)
    result = trainer.fit()
    v1 = {**_v1("mambarec", **V1_MGCN_PRESET, embedding_dim=16), "train": dataclasses.asdict(run.train)}
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": FORMAT, "format_version": 1, "config": json.dumps(v1),
                "state_dict": trainer.model.state_dict(),
                "metrics": json.dumps({"test/Recall@20": result.test["Recall@20"]}), "seed": 3,
                "dataset": "synthetic", "dataset_fingerprint": ds.fingerprint(), "versions": {}, "resume": None}, path)
    ckpt = load_checkpoint(path, expect_fingerprint=ds.fingerprint())
    assert ckpt["run"].model_name == "mgcn" and ckpt["run"].model == MGCNConfig(embedding_dim=16)
    test = evaluate_model(load_model(ckpt, ds), ds, ("test",))["test"]
    assert test["Recall@20"] == pytest.approx(ckpt["metrics"]["test/Recall@20"], abs=1e-6)
    assert test["Recall@20"] != pytest.approx(  # the weights came with it: an untrained MGCN ranks otherwise
        evaluate_model(Trainer.for_run(dataclasses.replace(run, train=dataclasses.replace(
            run.train, seed=99)), ds).model, ds, ("test",))["test"]["Recall@20"], abs=1e-6)


def test_a_version_1_run_folder_loads_and_resumes(tmp_path):
    """A run folder as format 1 wrote it: v1 config.json, format-1 checkpoint with a device_generator."""
    ds = load_dataset("synthetic", n_users=40, n_items=30)
    run = RunConfig(dataset="synthetic", model=mambarec_preset("paper", reduction_factor=2),
                    train=TrainConfig(epochs=1, batch_size=256, seed=3))
    trainer = Trainer.for_run(run, ds)
    result = trainer.fit()
    folder = tmp_path / "old_run"
    folder.mkdir()
    v1 = {k: v for k, v in run.to_dict().items() if k != "config_version"}
    resume = trainer.resume_state()
    resume["device_generator"] = resume["generator"].clone()  # format 1 stored both (the same one on CPU)
    torch.save({"format": FORMAT, "format_version": 1, "config": json.dumps(v1),
                "state_dict": trainer.model.state_dict(), "metrics": json.dumps({"test/Recall@20": result.test[
                    "Recall@20"]}), "seed": 3, "dataset": "synthetic", "dataset_fingerprint": ds.fingerprint(),
                "versions": {}, "resume": resume}, folder / "checkpoint.pt")
    (folder / "config.json").write_text(json.dumps(v1))
    (folder / "metrics.json").write_text(json.dumps({"test/Recall@20": result.test["Recall@20"], "history": []}))
    record = read_run(folder)
    assert record.run == run
    restored = restore_trainer(load_checkpoint(folder / "checkpoint.pt"), ds,
                               run=dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=2)))
    assert restored.epoch == 1 and restored.fit().epochs_run == 2


def test_the_stall_that_ends_a_run_counts_evaluations_in_epochs():
    assert TrainConfig(patience=20).stall_epochs == 21
    assert TrainConfig(patience=20, eval_every=5).stall_epochs == 105  # 21 evaluations, one every 5 epochs


def test_make_run_refuses_fields_of_other_models_and_follows_the_mgcn_alias():
    with pytest.raises(ConfigError, match=r"lambda_mmd does not apply to model 'lightgcn'.*n_layers"):
        make_run("synthetic", "lightgcn", model={"lambda_mmd": 0.3})
    run, notes = make_run("synthetic", "mambarec", "mgcn", model={"tau": 0.3})
    assert run.model_name == "mgcn" and run.model == MGCNConfig(tau=0.3) and "alias" in notes[0]
    with pytest.raises(ConfigError, match="backbone"):  # MambaRec parts on MGCN: the backbone variant
        make_run("synthetic", "mambarec", "mgcn", model={"use_dream": True})
    with pytest.raises(ConfigError) as asked:  # `--model mgcn --use-dream`: no word of an alias nobody typed (r56)
        make_run("synthetic", "mgcn", model={"use_dream": True})
    assert "variant 'backbone'" in str(asked.value) and "alias" not in str(asked.value)
    with pytest.raises(ConfigError, match="variant applies to model 'mambarec' only"):
        make_run("synthetic", "bpr", "paper")
    fast, _ = make_run("ml100k", train={"schedule": "fast", "seed": 4})
    assert fast.train.schedule == "fast" and fast.train.learning_rate != TrainConfig().learning_rate


def test_cli_flags_are_per_model(tmp_path, capsys):
    assert main(["train", "--model", "lightgcn", "--lambda-mmd", "0.3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--lambda-mmd does not apply to model 'lightgcn'" in err and "--n-layers" in err
    assert not (tmp_path / "x").exists()
    rc = main(["train", "--variant", "mgcn", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "4096",
               "--out", str(tmp_path / "m")])
    assert rc == 0 and "alias of model 'mgcn'" in capsys.readouterr().err
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_name"] == "mgcn"


def test_lr_is_short_for_learning_rate():
    """--lr was refused as ambiguous (a prefix of --lr-decay and --lr-decay-epochs)."""
    args = build_parser().parse_args(["train", "--lr", "0.004", "--out", "x"])
    run, _ = run_config_from_args(args)
    assert run.train.learning_rate == 0.004 and run.train.lr_decay == TrainConfig().lr_decay


def test_a_flag_beside_a_schedule_overrides_it_and_the_label_names_both():
    """`--schedule fast --lr 0.002` stores schedule "fast" with lr 0.002 (audit r75, item 13): the field's help and
    the run's label say so, where the help had said the rate came from the preset."""
    args = build_parser().parse_args(["train", "--schedule", "fast", "--lr", "0.002", "--out", "x"])
    run, _ = run_config_from_args(args)
    assert run.train.learning_rate == 0.002 and run.train.schedule == "fast"
    assert run.train.batch_size == SCHEDULES["fast"]["batch_size"]
    label = setup_label(run)
    assert "learning_rate=0.002" in label and "fast schedule" in label
    assert "overrides the preset" in help_text(TrainConfig, "schedule")


def test_a_run_folder_is_never_overwritten_silently_and_a_resume_takes_the_new_cap(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "4096", "--out", str(out)]
    assert main(args) == 0
    first = (out / "metrics.json").read_text()
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds a saved run" in capsys.readouterr().err and (out / "metrics.json").read_text() == first
    capsys.readouterr()
    assert main([*args[:-1], str(tmp_path / "elsewhere" / ".." / "run"), "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["out"] == str(out)  # not `elsewhere/../run` (r54, F18)
    ckpt = str(out / "checkpoint.pt")
    assert main(["train", "--resume", ckpt, "--out", str(out), "--epochs", "3"]) == 0  # its own folder: allowed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and len(metrics["history"]) == 3
    assert f"resuming {ckpt} after epoch 1 (best so far: epoch 1) to a cap of 3 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", ckpt, "--out", str(out), "--epochs", "2"]) == 2
    assert "already trained 3 epochs" in capsys.readouterr().err
    # no --epochs: it trained nothing, said nothing and exited 0, with a copy of the run (rehearsal r54)
    assert main(["train", "--resume", ckpt, "--out", str(tmp_path / "copy")]) == 2
    assert "already reached its cap of 3 epochs; pass --epochs N with N > 3" in capsys.readouterr().err
    assert not (tmp_path / "copy").exists()
    with pytest.raises(SystemExit) as stop:  # argparse's own error for a flag's type
        main(["train", "--dataset", "synthetic", "--save-every", "abc", "--out", str(tmp_path / "x")])
    assert stop.value.code == 2  # it said "invalid _seconds value", naming a function
    assert "--save-every: 'abc': give a number of seconds, 0 or more" in capsys.readouterr().err
    assert main(["train", "--resume", ckpt, "--out", str(out), "--learning-rate", "0.1", "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "only --epochs, --device and --compile can change (got --learning-rate 0.1, --seed 7)" in err
    # flags equal to the run's own values pass: a seed loop `train --seed $s ... --resume` can run again (r54, F14)
    same = ["--seed", "2026", "--batch-size", "4096", "--dataset", "synthetic", "--variant", "paper",
            "--schedule", "paper", "--use-dream", "true"]
    assert main(["train", "--resume", ckpt, "--out", str(out), "--epochs", "4", *same]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 4
    capsys.readouterr()
    other_data = ["--dataset", "synthetic/cold-items"]
    assert main(["train", "--resume", ckpt, "--out", str(out), "--epochs", "6", *other_data]) == 2
    assert "load it with the dataset it was trained on" in capsys.readouterr().err


def test_a_run_resumed_from_its_moved_data_keeps_its_datasets_name(tmp_path, capsys):
    """Audit r75: resumed with `--dataset <the same data moved to another folder>`, a run's metrics.json named the
    new folder while its config.json kept the old name, and Compare listed it apart from its sister runs."""
    import shutil

    from tests.test_app import write_tiny_dataset

    data = write_tiny_dataset(tmp_path, "orig")
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(data), "--model", "bpr", "--epochs", "1", "--out", str(out)]) == 0
    moved = shutil.move(str(data), tmp_path / "moved")
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--dataset", str(moved), "--epochs", "2", "--out", str(out)]) == 0
    assert f"note: {moved} holds the data this run trained on as 'orig'; the run keeps that name" in (
        capsys.readouterr().err)
    record = read_run(out)
    assert json.loads((out / "metrics.json").read_text())["dataset"] == "orig" and record.dataset == "orig"
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 2


def test_a_run_that_early_stopping_ended_is_not_resumed_to_stop_one_epoch_later(tmp_path, capsys):
    out = tmp_path / "run"  # patience 1: stops when two epochs in a row do not beat the best
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--patience", "1", "--epochs", "200",
                 "--learning-rate", "0.5", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_early"] and metrics["epochs_run"] < 200
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "checkpoint.pt"), "--out", str(out), "--epochs", "400"]) == 2
    err = capsys.readouterr().err
    assert "ended by early stopping" in err and "larger --patience" in err
    assert json.loads((out / "metrics.json").read_text()) == metrics  # the run is left as it was


def test_a_number_that_is_not_finite_or_a_seed_out_of_range_is_refused_by_name(tmp_path, capsys):
    for field, value in (("learning_rate", float("nan")), ("lr_decay", float("nan")), ("learning_rate", float("inf"))):
        with pytest.raises(ConfigError, match=f"{field} must be a finite number"):
            TrainConfig(**{field: value})
    with pytest.raises(ConfigError, match="lambda_mmd must be a finite number"):
        mambarec_preset("paper", lambda_mmd=float("inf"))
    for seed in (-1, 2**64):
        with pytest.raises(ConfigError, match="seed must be"):
            TrainConfig(seed=seed)
    # every whole number stops at 2^53 - 1, what a browser's box holds exactly (a link's 10^20 showed rounded)
    for field in ("epochs", "batch_size", "patience"):
        TrainConfig(**{field: 2**53 - 1})
        with pytest.raises(ConfigError, match=f"{field} must be a whole number of at most"):
            TrainConfig(**{field: 2**53})
    with pytest.raises(ConfigError, match="dilation_rates must be a whole number of at most"):
        mambarec_preset("paper", dilation_rates=(1, 2, 10**20))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--lr-decay", "nan", "--out", str(out)]) == 2
    assert "--lr-decay must be a finite number" in capsys.readouterr().err and not out.exists()  # as typed


def test_an_out_folder_that_cannot_be_written_fails_before_the_run_trains(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["train", "--dataset", "synthetic", "--epochs", "1", "--out", str(blocker / "run")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    deep = tmp_path / "x" / "y" / "run"
    assert main(["train", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "4096", "--out", str(deep)]) == 0
    assert (deep / "metrics.json").is_file()


def test_a_mistyped_flag_is_blamed_on_its_command_with_the_nearest_spelling(capsys):
    for argv, expected in ((["train", "--lamda-mmd", "0.2", "--out", "x"], "did you mean --lambda-mmd?"),
                           (["train", "--variant", "offical", "--out", "x"], "invalid choice: 'offical'")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.startswith("python -m mambarec train: error:") and expected in err
        assert "usage:" not in err and len(err.splitlines()) == 2  # the error and where the options are listed
    train_help = build_parser().parse_args(["train", "--out", "x"]).commands["train"].format_help()
    assert "[defaults: mambarec true]" in train_help and "True" not in train_help  # defaults as the flags take them


def test_help_and_the_data_commands_never_import_torch_and_a_bad_checkpoint_is_still_one_line(tmp_path):
    """`python -m mambarec --help` took 3.5 s here, 1.9 of them importing torch for an exception class; the
    commands that need no model stay off torch, and the one-line error for a bad checkpoint still holds."""
    assert "torch" not in modules_after("""
        from mambarec.cli import main
        assert main(["data", "scenarios"]) == 0
        try:
            main(["--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        """)
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    done = subprocess.run([sys.executable, "-m", "mambarec", "evaluate", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1, \
        done.stderr


def test_the_variant_table_in_docs_departures_is_the_presets():
    """docs/departures.md section 6 lists every field on which the three presets differ, with the presets' values
    (the `mgcn` column is the backbone preset that computes MGCN; "(value, unused)" is a default no path reads)."""
    import ast

    text = (ROOT / "docs" / "departures.md").read_text()
    start = text.index("## 6. Variant presets")
    end = text.find("\n## ", start + 1)  # the next section, or the end of the file
    section = text[start:end if end > 0 else None]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]

    def value(cell: str):
        cell = cell.strip().replace("`", "")
        if cell.startswith("(") and cell.endswith(", unused)"):
            cell = cell[1:-len(", unused)")]
        return {"true": True, "false": False}[cell] if cell in ("true", "false") else ast.literal_eval(cell)

    presets = {v: mambarec_preset(v) for v in ("paper", "official", "backbone")}
    table = {cells[0].strip().strip("`"): [value(c) for c in cells[1:]] for cells in rows}
    for name, values in table.items():
        assert values == [getattr(presets[v], name) for v in presets], f"docs/departures.md section 6: {name}"
    differ = {f.name for f in dataclasses.fields(MambaRecConfig) if f.name != "variant"
              and len({repr(getattr(p, f.name)) for p in presets.values()}) > 1}
    assert differ == set(table), f"docs/departures.md section 6 lacks {sorted(differ - set(table))}"


def test_the_symbol_table_in_docs_model_gives_the_paper_presets_values():
    """docs/model.md section 7: each row's fields exist, and where its `paper` default column holds one number per
    field (or a tuple's numbers), they are the `paper` preset's and TrainConfig's defaults."""
    import re

    text = (ROOT / "docs" / "model.md").read_text()
    start = text.index("## 7. Symbols and config fields")
    end = text.find("\n## ", start + 1)
    paper, train = mambarec_preset("paper"), TrainConfig()
    checked = 0
    for line in text[start:end if end > 0 else None].splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) != 5 or not cells[2].startswith("`"):
            continue
        fields = re.findall(r"`(\w+)`", cells[2].split("(")[0])
        values = [v.replace(",", "") for v in cells[4].split(", ")]
        for f in fields:
            assert hasattr(paper, f) or hasattr(train, f), f"docs/model.md section 7 names no field {f!r}"
        if not all(re.fullmatch(r"-?[0-9.e-]+", v) for v in values):
            continue  # words ("both, paper"), not numbers
        actual = [getattr(paper, f) if hasattr(paper, f) else getattr(train, f) for f in fields]
        if len(fields) == 1 and len(values) > 1:
            actual = list(actual[0])
        assert [float(v) for v in values] == [float(a) for a in actual], f"docs/model.md section 7: {fields}"
        checked += 1
    assert checked >= 12



def test_open_bounds_and_every_element_of_a_tuple_are_checked():
    """tau is > 0 and sigma at least SIGMA_MIN (an MMD bandwidth or temperature of 0 divides by 0), a bound that is
    open refuses the bound itself; a tuple field's every element is held to the field's range."""
    with pytest.raises(ConfigError, match="tau must be > 0.0, got 0.0"):
        mambarec_preset("paper", tau=0.0)
    with pytest.raises(ConfigError, match="sigma must be >= 1e-06, got 0.0"):
        mambarec_preset("paper", sigma=0.0)
    assert mambarec_preset("paper", sigma=1e-6).sigma == 1e-6
    with pytest.raises(ConfigError, match=r"dilation_rates must be >= 1, got \(1, 0, 3\)"):
        mambarec_preset("paper", dilation_rates=(1, 0, 3))
    assert mambarec_preset("paper", dilation_rates=(1, 4, 9)).dilation_rates == (1, 4, 9)


def test_every_example_in_the_commands_help_parses():
    """The subcommands' help had no example and train's no description (rehearsal r54); the examples it now prints
    must be commands the parser takes, with the flags they name."""
    import shlex

    commands = build_parser().parse_args(["train", "--out", "x"]).commands
    examples = [line.split("#")[0].strip() for name in ("train", "evaluate", "compare")
                for line in commands[name].format_help().splitlines() if line.strip().startswith("python -m mambarec")]
    assert len(examples) >= 8 and commands["train"].description and "in place" in commands["readme"].description
    for name, parser in commands.items():  # argparse %-formats help strings but not descriptions: "95%%" showed
        assert "%%" not in parser.format_help(), name
    assert "%%" not in build_parser().format_help()
    for example in examples:
        args = build_parser().parse_args(shlex.split(example)[3:])  # after "python -m mambarec"
        assert args.command in ("train", "evaluate", "compare"), example
        if "--use-mmd false" in example:
            run, _ = run_config_from_args(args)
            assert run.model.use_mmd is False


def test_a_misspelled_subcommand_or_choice_gets_the_nearest(capsys):
    """An unknown flag got "did you mean", a misspelled subcommand only the list (rehearsal r54)."""
    for argv, said in ((["trian"], "invalid choice: 'trian'"), (["train", "--model", "bprr", "--out", "x"],
                                                                 "invalid choice: 'bprr'")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and said in err
        assert err.split("\n")[0].endswith("; did you mean train?" if argv == ["trian"] else "; did you mean bpr?")


def test_a_setting_changed_as_the_form_changes_it_lives_beside_the_configs():
    """The form's rules for one edit were in app/state.py, and a link's schedule rule a second copy in params.py
    (audit r57): one module now, and both read the same ``with_schedule``."""
    from mambarec.config.edits import on_dataset, with_setting
    from mambarec.config.params import run_from_params

    run = RunConfig(dataset="synthetic", model=mambarec_preset("paper"), train=TrainConfig(seed=7, patience=5))
    fast = with_setting(run, "schedule", "fast")
    assert fast.train.learning_rate == 4e-3 and (fast.train.seed, fast.train.patience) == (7, 5)
    linked, errors, _ = run_from_params({"dataset": "synthetic", "schedule": "fast"}, train=run.train)
    assert not errors and linked.train == fast.train
    compiled = with_setting(run, "compile", "dream")
    assert with_setting(compiled, "use_dream", False).train.compile == "none"  # DREAM's removal takes compile
    assert with_setting(run, "model_name", "bpr").model == BPRConfig()
    with pytest.raises(ConfigError, match="not a setting of bpr"):
        with_setting(with_setting(run, "model_name", "bpr"), "use_mmd", False)
    assert on_dataset(run, "ml100k").dataset == "ml100k" and on_dataset(run, "ml100k").train == run.train


def test_one_definition_says_which_runs_are_seeds_of_one_setup():
    """The Train page's match to precomputed seeds and Compare's labels ignored different fields (audit r57, F4):
    both now read ``setup_key``'s two lists, and the label adds the run's length, which the key ignores."""
    from mambarec.config import setup_key, setup_label

    run = RunConfig(dataset="synthetic", model=mambarec_preset("paper"), train=TrainConfig(seed=3))
    executed = dataclasses.replace(run, train=dataclasses.replace(run.train, seed=9, compile="dream",
                                                                  eval_batch_users=512, device="cuda"))
    longer = dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=40, patience=50))
    taught = dataclasses.replace(run, train=dataclasses.replace(run.train, learning_rate=5e-4))
    assert setup_key(executed) == setup_key(run) == setup_key(longer) != setup_key(taught)
    assert setup_label(executed) == setup_label(run) == "mambarec/paper · 1000 ep"
    assert setup_label(longer) == "mambarec/paper · patience=50 · 40 ep"
    assert "learning_rate=0.0005" in setup_label(taught)
    assert setup_key(dataclasses.replace(run, model=mambarec_preset("paper", use_mmd=False))) != setup_key(run)


def test_a_link_s_unknown_field_or_variant_says_what_was_meant():
    """A rehearsal's ``/train?variant=bogus&lr=zero`` was told "lr: not a config field (known: the field names in
    mambarec/config)", which sent a student to the source, and that variant is one of paper, official, backbone,
    although the form and the README call the third setup MGCN and ``variant=mgcn`` works (rehearsal r70)."""
    from mambarec.config.params import run_from_params

    run, errors, _ = run_from_params({"variant": "bogus", "lr": "zero", "lamda_mmd": "2", "zzz": "1"})
    said = dict(e.split(":", 1) for e in errors)
    assert said["lr"].endswith("did you mean learning_rate?") and said["lamda_mmd"].endswith("did you mean lambda_mmd?")
    assert "python -m mambarec train --help" in said["zzz"]  # nothing near it: where the fields are listed
    assert "or mgcn, MMRec's MGCN" in said["variant"] and run.model == mambarec_preset("paper")
    assert run_from_params({"variant": "mgcn", "learning_rate": "0.002"})[0].train.learning_rate == 0.002
