"""Inputs an audit of the command line turned into tracebacks, a warning's noise or a silent wrong result: each is
now refused (or mended) with a message that names what is wrong and what to do."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mambarec import checkpoint
from mambarec.checkpoint import CheckpointError, load_checkpoint, load_model, restore_trainer, weights_digest
from mambarec.cli import main
from mambarec.config import ConfigError, RunConfig, TrainConfig, mambarec_preset
from mambarec.data.dataset import DatasetError
from mambarec.data.mmrec import load_mmrec_folder, write_mmrec_folder
from mambarec.graphs import cached_knn_graph
from mambarec.store import import_checkpoint, save_run
from mambarec.train import Trainer
from tests.tiny import inter_frame, tiny_dataset

DS = tiny_dataset()


def _run(epochs: int = 1, learning_rate: float = 1e-3) -> RunConfig:
    return RunConfig(model=mambarec_preset("paper", reduction_factor=2),
                     train=TrainConfig(epochs=epochs, batch_size=16, seed=0, learning_rate=learning_rate))


def test_dream_with_every_branch_off_is_a_config_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="DREAM needs at least one of its five branches"):
        mambarec_preset("paper", branch_conv1x1=False, branch_dilated_1=False, branch_dilated_2=False,
                        branch_dilated_3=False, branch_pool=False)
    mambarec_preset("paper", use_dream=False, branch_conv1x1=False, branch_dilated_1=False, branch_dilated_2=False,
                    branch_dilated_3=False, branch_pool=False)  # no DREAM: its branches do not matter
    off = [a for b in ("conv1x1", "dilated-1", "dilated-2", "dilated-3", "pool") for a in (f"--branch-{b}", "false")]
    assert main(["train", "--dataset", "synthetic", "--epochs", "1", *off, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "at least one of its five branches" in err  # named as flags, as typed: not as the config's fields
    assert "(--branch-conv1x1, --branch-dilated-1," in err and "switch --use-dream off" in err and "branch_" not in err


def test_weights_stored_in_another_dtype_are_refused_not_cast(tmp_path):
    """A checkpoint whose weights were stored as integers loaded: ``load_state_dict`` cast them to float32 without a
    word, and the run evaluated as a rounded copy of itself. The best weights and the resume weights are checked."""
    trainer = Trainer.for_run(_run(epochs=1), DS)
    save_run(tmp_path / "r", trainer, trainer.fit())
    good = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert restore_trainer(load_checkpoint(tmp_path / "r" / "checkpoint.pt"), DS) is not None  # the file as saved
    name = next(k for k, t in good["state_dict"].items() if t.is_floating_point())
    for part in ("best", "resume"):
        payload = dict(good, state_dict=dict(good["state_dict"]), resume=dict(good["resume"],
                                                                              model=dict(good["resume"]["model"])))
        weights = payload["state_dict"] if part == "best" else payload["resume"]["model"]
        weights[name] = weights[name].round().long()
        payload["digest"] = weights_digest({"state_dict": payload["state_dict"], "resume": payload["resume"]})
        torch.save(payload, tmp_path / "r" / "checkpoint.pt")
        with pytest.raises(CheckpointError, match=rf"'{name}' is torch.int64, the model holds torch.float32"):
            restore_trainer(load_checkpoint(tmp_path / "r" / "checkpoint.pt"), DS)
        if part == "best":  # what `evaluate` and the app's pages load
            with pytest.raises(CheckpointError, match="not stored as mambarec saves them"):
                load_model(tmp_path / "r" / "checkpoint.pt", DS)


def test_a_plain_pickle_is_refused_without_torchs_warning(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "mambarec-checkpoint"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="not a readable MambaRec checkpoint"):
            load_checkpoint(path)
    assert not caught, [str(w.message) for w in caught]  # torch's "please file an issue" was printed before


class _Touch:
    """Unpickled, it would run a shell command that creates the file ``path``: what a malicious checkpoint does."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("content", ["model", "code"])
def test_an_intact_file_holding_python_objects_is_refused_as_such_not_called_damaged(tmp_path, content):
    """torch.save(model), a student's commonest mistake, and a file that would run code were both called "a damaged or
    truncated file": the safe load refused the objects in them, and the message now names one."""
    path, marker = tmp_path / "up.pt", tmp_path / "ran"
    torch.save(torch.nn.Linear(2, 2) if content == "model" else {"x": _Touch(marker)}, path)
    named = "torch.nn.modules.linear.Linear" if content == "model" else f"{os.name}.system"  # posix.system
    said = rf"up\.pt: not a MambaRec checkpoint: torch saved it, but it holds a Python object \({re.escape(named)}"
    for load in (lambda: load_checkpoint(path), lambda: import_checkpoint(path.read_bytes(), "up.pt", DS,
                                                                          tmp_path / "runs")):
        with pytest.raises(CheckpointError, match=said) as caught:
            load()
        assert "nothing in it ran" in str(caught.value) and "weights_only" not in str(caught.value)
        assert "damaged" not in str(caught.value)
    assert not marker.exists() and not (tmp_path / "runs").exists()


def test_an_empty_file_is_called_empty_by_the_loader_the_upload_and_evaluate(tmp_path, capsys):
    """torch's reader called a 0-byte file damaged or not one torch saved, which sent a user looking for a fault."""
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    empty_said = r"the file is empty \(0 bytes\).*Pick the \.pt file that `python -m mambarec train` saved"
    with pytest.raises(CheckpointError, match=rf"empty\.pt: {empty_said}"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError, match=rf"up\.pt: {empty_said}"):  # the app's upload: bytes, not a path
        import_checkpoint(b"", "up.pt", DS, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    assert main(["evaluate", str(empty)]) == 2
    assert "the file is empty (0 bytes)" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["plain", "state_dict"])
def test_a_dict_torch_saved_without_the_marker_says_how_checkpoints_are_saved(tmp_path, capsys, content):
    path = tmp_path / "other.pt"
    torch.save({"a": 1} if content == "plain" else Trainer.for_run(_run(), DS).model.state_dict(), path)
    said = (r"other\.pt: this file is not a MambaRec checkpoint \(no 'mambarec-checkpoint' marker\): torch saved it, "
            r"but probably as a bare state_dict or for another program\. Save checkpoints with `python -m mambarec "
            r"train` or the app: they write the marker, the run's config and the dataset's fingerprint")
    with pytest.raises(CheckpointError, match=said):
        load_checkpoint(path)
    assert main(["evaluate", str(path)]) == 2
    assert "a bare state_dict or for another program" in capsys.readouterr().err


def test_a_damaged_resume_state_is_a_checkpoint_error_and_the_cli_says_so(tmp_path, capsys):
    trainer = Trainer.for_run(_run(epochs=1), DS)
    save_run(tmp_path / "r", trainer, trainer.fit())
    good = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    damages = {"no model": lambda r: r.pop("model"), "no optimizer": lambda r: r.pop("optimizer"),
               "history not a list": lambda r: r.update(history=3)}
    for what, damage in damages.items():
        payload = dict(good, resume=dict(good["resume"]))
        damage(payload["resume"])
        payload["digest"] = weights_digest({"state_dict": payload["state_dict"], "resume": payload["resume"]})
        buf = io.BytesIO()
        torch.save(payload, buf)
        buf.seek(0)
        buf.name = what
        with pytest.raises(CheckpointError, match="resume state does not fit this run"):
            restore_trainer(load_checkpoint(buf), DS, run=_run(epochs=2))
    # the CLI takes a run folder for --resume (as `evaluate` does) and reports a damaged one in a line
    payload = dict(good, resume=dict(good["resume"]))
    del payload["resume"]["model"]
    payload["digest"] = weights_digest({"state_dict": payload["state_dict"], "resume": payload["resume"]})
    torch.save(payload, tmp_path / "r" / "checkpoint.pt")
    code = main(["train", "--resume", str(tmp_path / "r"), "--dataset", "synthetic", "--epochs", "2",
                 "--out", str(tmp_path / "r2")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err


def test_an_empty_dataset_flag_and_running_out_of_memory_are_said_in_a_line(tmp_path, capsys, monkeypatch):
    assert main(["train", "--dataset", "", "--epochs", "1", "--out", str(tmp_path / "a")]) == 2
    assert "--dataset is empty" in capsys.readouterr().err and not (tmp_path / "a").exists()
    for command in (["train", "--dataset", "synthetic"], ["precompute", "--plan"],  # read as "." (audit r75)
                    ["data", "build", "--interactions", "x", "--items", "y"],
                    ["data", "build-movielens", "--raw", "r"]):
        assert main([*command, "--out", " "]) == 2
        assert capsys.readouterr().err == "error: --out is empty; name the folder to write\n"

    def no_room(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 377190000000 bytes.")

    monkeypatch.setattr(Trainer, "for_run", no_room)
    assert main(["train", "--dataset", "synthetic", "--epochs", "1", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "lower embedding_dim" in err


def test_a_diverged_loss_raises_without_torchs_grad_warning():
    trainer = Trainer.for_run(_run(epochs=2, learning_rate=1e20), DS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FloatingPointError, match="lower learning_rate"):
            trainer.fit()
    assert not [w for w in caught if "requires_grad" in str(w.message)]


def _small_folder(folder):
    """DS as an MMRec folder with 4-d visual and 3-d text features of ones."""
    return write_mmrec_folder(folder, "d", inter_frame(DS), np.ones((DS.n_items, 4)), np.ones((DS.n_items, 3)))


def _folder_with_visual(tmp_path, write_visual):
    folder = _small_folder(tmp_path / "d")
    write_visual(folder / "image_feat.npy")
    return folder


def test_a_features_file_whose_header_lies_or_that_holds_complex_numbers_is_refused(tmp_path):
    def huge_header(path):  # a damaged header claiming 10^11 rows: numpy tried to allocate 46.6 TiB
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": (10**11, 128)})
            f.write(b"\0" * 64)

    with pytest.raises(DatasetError, match="shorter than its header says"):
        load_mmrec_folder(_folder_with_visual(tmp_path / "a", huge_header))
    with pytest.raises(DatasetError, match=r"features must be numeric \(real, not complex\), got dtype complex64"):
        load_mmrec_folder(_folder_with_visual(tmp_path / "b", lambda p: np.save(
            p, np.ones((DS.n_items, 4), dtype=np.complex64))))  # the imaginary part was dropped without a word
    with pytest.raises(DatasetError, match=r"2-D \(n_items, dim\) array, got shape \(\)"):  # was "(1,)"
        load_mmrec_folder(_folder_with_visual(tmp_path / "c", lambda p: np.save(p, np.float32(3))))


def test_loaded_features_are_in_memory_not_a_view_of_the_file(tmp_path):
    """The features are mapped to check their header; what loads must not stay a read-only view of the file
    (rewritten by a rebuild while the app holds it, or written to by a caller)."""
    folder = _folder_with_visual(tmp_path, lambda p: np.save(p, DS.visual))
    ds = load_mmrec_folder(folder)
    assert ds.visual.flags.writeable and ds.visual.flags.c_contiguous and type(ds.visual) is np.ndarray
    assert not isinstance(ds.visual.base, np.memmap) and np.array_equal(ds.visual, DS.visual)


def test_features_too_large_for_float32_are_refused_not_read_as_zeros_or_nan(tmp_path):
    with pytest.raises(DatasetError, match="too long for float32 arithmetic"):  # the k-NN graph saw rows of zeros
        load_mmrec_folder(_folder_with_visual(tmp_path / "a", lambda p: np.save(
            p, np.full((DS.n_items, 4), 1e30, dtype=np.float32))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DatasetError, match="values beyond float32's range"):  # was "NaN or inf", after a warning
            load_mmrec_folder(_folder_with_visual(tmp_path / "b", lambda p: np.save(
                p, np.full((DS.n_items, 4), 1e300))))
    assert not caught, [str(w.message) for w in caught]


def test_a_cached_graph_of_another_shape_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMBAREC_CACHE", str(tmp_path))
    features = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    built = cached_knn_graph(features, 3, "key")
    [entry] = (tmp_path / "graphs").iterdir()
    sp.save_npz(entry, sp.identity(3, format="csr"))  # a stale or foreign entry: a product failed on it
    again = cached_knn_graph(features, 3, "key")
    assert again.shape == (20, 20) and (again != built).nnz == 0


def test_evaluating_a_run_whose_data_moved_says_to_pass_dataset(tmp_path, capsys):
    folder = _small_folder(tmp_path / "data")
    # 4-d visual features at the default r = 8: no dimension left (a ZeroDivisionError deep in DREAM before)
    assert main(["train", "--dataset", str(folder), "--epochs", "1", "--out", str(tmp_path / "r8")]) == 2
    assert "use a reduction_factor of at most 4" in capsys.readouterr().err
    folder = write_mmrec_folder(folder, "d", inter_frame(DS), DS.visual, DS.text)
    assert main(["train", "--dataset", str(folder), "--epochs", "1", "--batch-size", "64", "--out",
                 str(tmp_path / "run")]) == 0
    folder.rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "if that data moved, pass --dataset" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", str(tmp_path / "moved")]) == 0


def test_a_new_users_slips_get_plain_answers(tmp_path, capsys, monkeypatch):
    """From a new user's pass over the command line: a value a flag cannot take names the flag and what it takes
    (it said "use_dream: cannot read 'maybe' as bool"); a dataset named on purpose in --datasets that cannot load is an
    error (a warning scrolled away and the grid went on without it); a mistyped --precomputed folder is no such
    folder (not "regenerate it: hours"); `--model mgcn --variant mgcn` carries no alias note; pop, which trains
    nothing, shows no 0/1000-epoch bar with loss=nan; a relative --dataset is stored whole, so the run evaluates from
    any folder; a folder of other files is not offered a checkpoint to --resume."""
    for bad, says in ((["--use-dream", "maybe"], "--use-dream: cannot read 'maybe' as on or off (true/false, yes/no"),
                      (["--epochs", "1.5"], "--epochs: cannot read '1.5' as a whole number"),
                      (["--epochs", "-1"], "error: --epochs must be >= 1, got -1"),
                      (["--reduction-factor", "3"], "--reduction-factor must be one of 1, 2, 4, 8, 16, 32, got 3")):
        assert main(["train", *bad, "--out", str(tmp_path / "bad")]) == 2
        assert says in capsys.readouterr().err
    assert main(["precompute", "--plan", "--datasets", "ml1m,synthetic", "--only", "pop"]) == 2
    assert capsys.readouterr().err.startswith("error: --datasets names 'ml1m', which cannot be loaded: ")
    assert main(["readme", "--precomputed", str(tmp_path / "nope")]) == 2
    nope = tmp_path / "nope"
    assert capsys.readouterr().err == f"error: {nope}: no such folder (the repository's own is precomputed/)\n"
    assert main(["train", "--model", "mgcn", "--variant", "mgcn", "--epochs", "1", "--batch-size", "4096", "--out",
                 str(tmp_path / "m")]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["train", "--model", "pop", "--out", str(tmp_path / "pop")]) == 0
    err = capsys.readouterr().err
    assert "pop: nothing to train; evaluated once" in err and "loss=nan" not in err and "epoch/s" not in err
    folder = write_mmrec_folder(_small_folder(tmp_path / "data"), "d", inter_frame(DS), DS.visual, DS.text)
    monkeypatch.chdir(folder.parent)
    assert main(["train", "--dataset", folder.name, "--model", "bpr", "--epochs", "1", "--out", "run"]) == 0
    assert json.loads((folder.parent / "run" / "config.json").read_text())["dataset"] == str(folder)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(folder.parent / "run")]) == 0
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    assert main(["train", "--model", "pop", "--out", str(tmp_path / "notes")]) == 2
    err = capsys.readouterr().err
    assert "already holds files; nothing was overwritten" in err and "--resume" not in err


def test_an_only_list_without_a_cell_is_refused_not_read_as_done(capsys):
    assert main(["precompute", "--plan", "--only", ","]) == 2  # "nothing to train: ... holds every run" before
    assert "names no cell" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without CUDA")
def test_precompute_on_cuda_without_cuda_is_refused_once_before_the_grid(tmp_path, capsys):
    """Every one of the grid's 530 runs failed alone with the same error (47 s of a progress bar), and the message
    advised `train --resume`: now one line before any data is loaded (also for --plan, which times cells on the
    device), and the output folder is not made."""
    out = tmp_path / "pre"
    assert main(["precompute", "--device", "cuda", "--datasets", "synthetic", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available" in err and "--resume" not in err, err
    assert not out.exists()
    assert main(["precompute", "--device", "cuda", "--datasets", "synthetic", "--plan", "--out", str(out)]) == 2
    assert "leave --device out" in capsys.readouterr().err  # the plan times its cells on the device


def test_every_error_of_bad_input_is_one_user_error_that_the_cli_and_the_app_say_alone(tmp_path, capsys):
    """The command line and the app kept two lists of the errors whose message carries its fix, and they differed: a
    damaged checkpoint or run folder read "CheckpointError: ..." on a page. Both now test for one base class."""
    from app.errors import said
    from mambarec.artifacts import PrecomputedError
    from mambarec.errors import UserError
    from mambarec.store import RunStoreError

    for cls in (ConfigError, DatasetError, CheckpointError, RunStoreError, PrecomputedError):
        assert issubclass(cls, UserError) and issubclass(cls, ValueError), cls
        assert said(cls("x.pt: not a checkpoint; train it again")) == "x.pt: not a checkpoint; train it again"
    assert said(KeyError("counters")) == "KeyError: 'counters'"  # a bug keeps its class
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2  # a CheckpointError: one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_ctrl_c_while_the_command_line_starts_is_one_line_not_a_traceback():
    """Ctrl-C in the first half second of any command (torch and pandas loading) printed a 50-line KeyboardInterrupt
    traceback (rehearsal r54). The interrupt is made to land in the import of mambarec.cli, as it did then."""
    import subprocess
    import sys

    script = ("import builtins, runpy\n"
              "real = builtins.__import__\n"
              "def interrupted(name, *args, **kwargs):\n"
              "    if name == 'mambarec.cli':\n"
              "        raise KeyboardInterrupt\n"
              "    return real(name, *args, **kwargs)\n"
              "builtins.__import__ = interrupted\n"
              "runpy.run_module('mambarec', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", script, "train"], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 130 and done.stderr.strip() == "interrupted while starting: nothing was done", done.stderr


def test_a_listing_piped_into_head_ends_quietly():
    """`python -m mambarec data scenarios | head -1` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m mambarec data scenarios | head -1", shell=True, capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.startswith("spec ") and done.stdout.count("\n") == 1
    assert "noise v/t, gap  " in done.stdout  # the header's last two columns ran together ("gap what it is")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_graph_cached_by_other_graph_code_is_not_served(tmp_path, monkeypatch):
    """The cache was named by the data alone: after a change to the graph's bits, a machine with an old cache
    trained one seed on other graphs than a machine without one (audit r57)."""
    from mambarec import graphs

    monkeypatch.setenv("MAMBAREC_CACHE", str(tmp_path))
    features = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    built = cached_knn_graph(features, 3, "key")
    [entry] = (tmp_path / "graphs").iterdir()
    assert entry.name == f"key_k3_{graphs.graph_code_version()}.npz"
    monkeypatch.setattr(graphs, "graph_code_version", lambda: "other-code")  # as after an edit of knn_graph
    sp.save_npz(entry, sp.csr_matrix(np.full((20, 20), 9.0, dtype=np.float32)))  # what the old code would serve
    again = cached_knn_graph(features, 3, "key")
    assert (again != built).nnz == 0 and len(list((tmp_path / "graphs").iterdir())) == 2


def _payload_bytes(**edits) -> io.BytesIO:
    """A checkpoint file's bytes (one small weight, a valid config), with ``edits`` to its payload (a value of None
    deletes the key) and the digest written over the edited weights, as a tool that rewrote it would."""
    payload = checkpoint.checkpoint_payload(_run(), {"w": torch.ones(2)}, {}, "tiny", DS.fingerprint())
    for key, value in edits.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    payload["digest"] = weights_digest({"state_dict": payload["state_dict"], "resume": None})
    buf = io.BytesIO()
    torch.save(payload, buf)
    buf.seek(0)
    buf.name = "edited.pt"
    return buf


NEXT_VERSION = checkpoint.FORMAT_VERSION + 1  # the first version this mambarec did not write


@pytest.mark.parametrize(("edits", "says"), [
    ({}, None),
    ({"format_version": 0}, "format version 0 is not a version mambarec wrote"),
    ({"format_version": NEXT_VERSION}, f"format version {NEXT_VERSION} is newer than this mambarec understands"),
    ({"config": None}, "lacks its config"),
    ({"state_dict": [torch.ones(2)]}, "lacks its weights"),
    ({"state_dict": {"w": torch.tensor([1.0, float("inf")])}}, "weight 'w' holds NaN or infinite values"),
    ({"state_dict": {"w": torch.tensor([float("-inf"), 1.0])}}, "weight 'w' holds NaN or infinite values"),
    ({"state_dict": {"w": 3}}, "weight 'w' is a int, not a tensor"),
], ids=["intact", "version-0", "next-version", "no-config", "weights-a-list", "inf", "-inf", "weight-not-a-tensor"])
def test_a_checkpoint_edited_by_another_tool_is_refused_by_what_is_wrong(edits, says):
    """Each a CheckpointError naming the fault, never a KeyError or AttributeError from inside the loader; the
    intact file loads; the first version past the one written today is refused as newer."""
    if says is None:
        assert load_checkpoint(_payload_bytes())["state_dict"]["w"].tolist() == [1.0, 1.0]
        return
    with pytest.raises(CheckpointError, match=re.escape(says)):
        load_checkpoint(_payload_bytes(**edits))


def test_a_file_object_read_to_its_end_is_called_empty():
    """An upload already read once sits at its end: nothing is left from there, and the loader says so (its bytes
    from the current position are what torch would read), rather than calling the file damaged."""
    buf = _payload_bytes()
    buf.seek(0, io.SEEK_END)
    with pytest.raises(CheckpointError, match=r"edited\.pt: the file is empty"):
        load_checkpoint(buf)
    buf.seek(0)
    assert load_checkpoint(buf)["dataset"] == "tiny"  # from its start it loads


def test_weights_in_another_float_precision_are_refused_and_the_misfits_counted():
    """float64 weights in a float32 model were cast as silently as integers (``_check_dtypes``); the message names
    the first two tensors and counts the rest, with no "and 0 more" when there are exactly two."""
    from mambarec.model.zoo import build_model

    state = build_model(_run(), DS).state_dict()
    floats = [k for k, t in state.items() if t.dtype == torch.float32][:3]
    for n, tail in ((1, ""), (2, ""), (3, "; and 1 more")):
        edited = dict(state, **{k: state[k].double() for k in floats[:n]})
        data = checkpoint.checkpoint_bytes(_run(), edited, {}, "tiny", DS.fingerprint())
        with pytest.raises(CheckpointError, match="not stored as mambarec saves them") as err:
            load_model(io.BytesIO(data), DS)
        named = "; ".join(f"{k!r} is torch.float64, the model holds torch.float32" for k in floats[:min(n, 2)])
        assert f"weights are not stored as mambarec saves them: {named}{tail}. The file" in str(err.value)


def test_the_weights_digest_covers_names_dtypes_shapes_and_bytes():
    """A tensor read back under another dtype or shape holds the same bytes: the digest tells them apart, and it does
    not depend on the order the keys were stored in."""
    t = torch.arange(6, dtype=torch.float32)
    base = weights_digest({"state_dict": {"a": t, "b": t}, "resume": None})
    assert weights_digest({"state_dict": {"b": t, "a": t}, "resume": None}) == base
    for other in ({"a": t.view(torch.int32), "b": t}, {"a": t.view(2, 3), "b": t}, {"a": t, "c": t},
                  {"a": t, "b": t.flip(0)}):
        assert weights_digest({"state_dict": other, "resume": None}) != base
    assert weights_digest({"resume": {"epoch": 1}}) != weights_digest({"resume": {"epoch": 2}})
    assert weights_digest({"h": [t, t * 2]}) != weights_digest({"h": [t * 2, t]})


def test_load_model_gives_the_stored_weights_in_eval_mode():
    from mambarec.model.zoo import build_model

    state = build_model(_run(), DS, generator=torch.Generator().manual_seed(7)).state_dict()
    data = checkpoint.checkpoint_bytes(_run(), state, {}, "tiny", DS.fingerprint())
    model = load_model(io.BytesIO(data), DS)
    assert not model.training  # dropout off: what `evaluate`, the app and recommend score with
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_a_flag_cut_short_is_refused_with_its_full_name(capsys):
    """argparse's abbreviations trained `--learning-rat 0.01` as a learning rate and `--sig 2` as sigma (audit r73):
    a flag a later version adds with that prefix would change what an old command line means."""
    for cut, full in ((["--learning-rat", "0.01"], "--learning-rate"), (["--sig", "2"], "--sigma")):
        with pytest.raises(SystemExit) as stop:
            main(["train", "--dataset", "synthetic", "--epochs", "1", "--out", "unused", *cut])
        assert stop.value.code == 2
        assert f"did you mean {full}?" in capsys.readouterr().err


def test_a_checkpoint_of_other_data_of_the_same_name_says_which_folder_was_read(tmp_path, capsys):
    """Two datasets called `ml100k` (another copy, a rebuilt folder) read "trained on 'ml100k' (...), not on
    'ml100k' (...)", with nothing on which folder was read or how to choose another (audit r73)."""
    from tests.test_app import write_tiny_dataset

    trained_on = write_tiny_dataset(tmp_path / "a", seed=0)
    other = write_tiny_dataset(tmp_path / "b", seed=1)  # also called `tiny`, other data
    assert main(["train", "--dataset", str(trained_on), "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", str(other)]) == 2
    said = capsys.readouterr().err
    assert f"not on the 'tiny' read here from {other}" in said and "pass --dataset with the folder" in said


def test_evaluating_a_run_that_is_still_training_says_so(tmp_path, capsys):
    """`evaluate RUN` while a `train` wrote RUN said "no such checkpoint file" and nothing of the run (audit r73)."""
    import subprocess

    from mambarec.store import LOCK_NAME

    writer = subprocess.Popen(["sleep", "60"])  # a living process holds the folder's claim
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / LOCK_NAME).write_text(str(writer.pid))
        assert main(["evaluate", str(tmp_path / "run")]) == 2
        assert f"process {writer.pid}" in (said := capsys.readouterr().err) and "has saved no checkpoint yet" in said
    finally:
        writer.kill()
        writer.wait()
    assert main(["evaluate", str(tmp_path / "run")]) == 2  # its writer gone: the plain fact
    assert "no such checkpoint file" in capsys.readouterr().err
