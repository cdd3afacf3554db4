"""Trainer, checkpoints, run folders and the command line."""

import dataclasses
import io
import itertools
import json
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mambarec.catalog import list_runs
from mambarec.checkpoint import CheckpointError, load_checkpoint, restore_trainer, save_checkpoint, weights_digest
from mambarec.cli import main
from mambarec.config import BPRConfig, ConfigError, RunConfig, TrainConfig, make_run, mambarec_preset
from mambarec.data import load_dataset
from mambarec.data.dataset import DatasetError
from mambarec.metrics import topk_metrics
from mambarec.model.dream import Dream, compile_dream
from mambarec.store import import_checkpoint, save_run
from mambarec.train import NegativeSampler, Trainer, lr_factor
from tests.tiny import tiny_dataset

DS = tiny_dataset()


def _run(epochs=3, seed=0, variant="paper", **over):
    return RunConfig(model=mambarec_preset(variant, reduction_factor=2, **over),
                     train=TrainConfig(epochs=epochs, batch_size=16, seed=seed, patience=10))


def _timeless(history):
    return [{k: v for k, v in row.items() if k != "epoch_s"} for row in history]


def _fit(run, ds=DS):
    trainer = Trainer.for_run(run, ds)
    return trainer, trainer.fit()


def test_same_seed_same_metrics_and_other_seed_differs():
    _, a = _fit(_run(seed=1))
    _, b = _fit(_run(seed=1))
    _, c = _fit(_run(seed=2))
    assert _timeless(a.history) == _timeless(b.history)
    assert a.test == b.test
    assert [r["loss/total"] for r in a.history] != [r["loss/total"] for r in c.history]


@pytest.mark.parametrize("variant", ["paper", "official", "mgcn"])
def test_same_seed_same_numbers_at_two_threads(variant):
    """At torch's default thread count (2 on the target laptop) two runs of one seed agree exactly: every
    gather of rows with repeats backpropagates deterministically (``model.base.gather_rows``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ds = load_dataset("synthetic")
        run, _ = make_run("synthetic", "mgcn" if variant == "mgcn" else "mambarec",
                          None if variant == "mgcn" else variant, train={"epochs": 2, "seed": 11, "patience": 10})
        a, b = _fit(run, ds)[1], _fit(run, ds)[1]
    finally:
        torch.set_num_threads(threads)
    assert _timeless(a.history) == _timeless(b.history)
    assert a.test == b.test and a.valid == b.valid


def test_two_runs_training_at_once_stay_deterministic():
    _, alone = _fit(_run(seed=5))
    results = {}

    def work(name, seed):
        results[name] = _fit(_run(seed=seed))[1]

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in (("a", 5), ("b", 6))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"].test == alone.test
    assert [r["loss/total"] for r in results["a"].history] == [r["loss/total"] for r in alone.history]


def test_negatives_are_never_training_positives():
    sampler = NegativeSampler(DS.train, DS.n_items, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    users = torch.from_numpy(DS.train[:, 0]).repeat(20)
    neg = sampler(users, g)
    train = set(map(tuple, DS.train.tolist()))
    assert not any((int(u), int(i)) in train for u, i in zip(users, neg, strict=True))


def test_the_dense_membership_table_answers_as_the_binary_search(monkeypatch):
    """The equivalent rewrite of the sampler's membership test: the same answers, so the same negatives."""
    sampler = NegativeSampler(DS.train, DS.n_items, torch.device("cpu"))
    assert sampler.table is not None  # a small catalog takes the table
    g = torch.Generator().manual_seed(1)
    n_users = int(DS.train[:, 0].max()) + 3  # two users past the last one with positives: never positives
    query = torch.cat([torch.randint(0, n_users * DS.n_items, (5000,), generator=g), sampler.keys])
    assert torch.equal(sampler._is_positive(query), sampler.search(query))
    assert sampler._is_positive(query).sum() >= len(sampler.keys)
    users = torch.from_numpy(DS.train[:, 0]).repeat(5)
    dense = sampler(users, torch.Generator().manual_seed(2))
    monkeypatch.setattr("mambarec.train.DENSE_MEMBERSHIP_MAX_CELLS", 0)
    searched = NegativeSampler(DS.train, DS.n_items, torch.device("cpu"))
    assert searched.table is None
    assert torch.equal(searched(users, torch.Generator().manual_seed(2)), dense)


def test_data_the_protocol_cannot_train_on_is_refused_before_training():
    with pytest.raises(DatasetError, match="no validation interactions"):  # selection would fall back to test
        Trainer.for_run(_run(), dataclasses.replace(DS, valid=np.zeros((0, 2), dtype=np.int64)))
    everything = np.array([[0, i] for i in range(DS.n_items)], dtype=np.int64)
    with pytest.raises(DatasetError, match="user 0 .* every item"):  # BPR would draw a positive as negative
        NegativeSampler(np.concatenate([DS.train, everything]), DS.n_items, torch.device("cpu"))
    narrow = dataclasses.replace(DS, train=DS.train.astype(np.int32))  # ids as a 32-bit array: keys in int64
    assert Trainer.for_run(_run(), narrow).train_pairs.dtype == torch.int64


@pytest.mark.parametrize("patience", [0, 2])
def test_early_stopping_after_patience_plus_one_bad_epochs(monkeypatch, patience):
    run = RunConfig(model=mambarec_preset("paper", reduction_factor=2),
                    train=TrainConfig(epochs=50, batch_size=16, patience=patience))
    trainer = Trainer.for_run(run, DS)
    curve = iter([0.1, 0.3, 0.3, 0.2, 0.3, 0.25, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    monkeypatch.setattr(trainer, "evaluate", lambda: (lambda v: {"valid": {"Recall@20": v}, "test": {"Recall@20": v}})(
        next(curve)))
    result = trainer.fit()
    # the best is epoch 2 (0.3); equal is not better; stop after patience + 1 epochs without improvement
    assert result.stopped_early and result.best_epoch == 2 and result.epochs_run == 2 + patience + 1


def test_an_improvement_after_bad_epochs_resets_the_patience_and_the_best_is_chosen_on_valid_not_test(monkeypatch):
    """Bad epochs count since the last strict improvement (not in total), and the epoch is selected on valid
    Recall@20: the test numbers reported are that epoch's, even where test peaked elsewhere."""
    run = RunConfig(model=mambarec_preset("paper", reduction_factor=2),
                    train=TrainConfig(epochs=50, batch_size=16, patience=1))
    trainer = Trainer.for_run(run, DS)
    curve = iter(zip([0.1, 0.05, 0.2, 0.1, 0.1, 0.1, 0.1], [0.5, 0.9, 0.3, 0.3, 0.3, 0.3, 0.3], strict=True))
    monkeypatch.setattr(trainer, "evaluate", lambda: (lambda v, t: {"valid": {"Recall@20": v},
                                                                     "test": {"Recall@20": t}})(*next(curve)))
    result = trainer.fit()
    # epoch 2 is bad, epoch 3 improves (patience reset), epochs 4 and 5 are bad: 2 > patience stops at 5
    assert result.stopped_early and result.best_epoch == 3 and result.epochs_run == 5
    assert result.valid["Recall@20"] == 0.2 and result.test["Recall@20"] == 0.3


def test_cancel_keeps_the_best_state():
    calls = {"n": 0}

    def stop_after_two_epochs():
        calls["n"] += 1
        return trainer.epoch >= 2

    trainer = Trainer.for_run(_run(epochs=20), DS)
    result = trainer.fit(should_stop=stop_after_two_epochs)
    assert result.cancelled and result.epochs_run == 2
    assert result.best_epoch < result.epochs_run  # (this seed peaks at epoch 1) so the check below tells best from last
    assert result.history[-1]["test/NDCG@20"] != result.test["NDCG@20"]
    assert trainer.evaluate()["test"] == pytest.approx(result.test)


def test_checkpoint_round_trip_gives_the_same_metrics(tmp_path):
    trainer, result = _fit(_run())
    save_run(tmp_path / "run", trainer, result)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt", expect_fingerprint=DS.fingerprint())
    restored = restore_trainer(ckpt, DS)
    assert restored.evaluate()["test"] == pytest.approx(result.test, abs=1e-9)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/Recall@20"] == pytest.approx(result.test["Recall@20"])
    assert "valid/NDCG@10" in metrics and len(metrics["history"]) == result.epochs_run
    assert list_runs(tmp_path)[0].id == "run"


def test_imported_checkpoint_becomes_a_listed_run_and_bad_bytes_write_nothing(tmp_path):
    trainer, result = _fit(_run(epochs=1))
    save_run(tmp_path / "src", trainer, result)
    data = (tmp_path / "src" / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError, match="not a readable"):
        import_checkpoint(b"junk", "junk.pt", DS, tmp_path / "runs")
    assert list_runs(tmp_path / "runs") == []
    folder, new = import_checkpoint(data, "my run.pt", DS, tmp_path / "runs")
    [listed] = list_runs(tmp_path / "runs")
    assert new
    assert listed.folder == folder and folder.name.endswith("my_run")
    assert listed.test("Recall@20") == pytest.approx(result.test["Recall@20"])
    assert listed.config == json.loads(json.dumps(trainer.run.to_dict()))  # tuples become lists
    assert listed.run == trainer.run
    assert (folder / "checkpoint.pt").read_bytes() == data
    # the same file again is the run that holds it: three uploads of one file were three runs in every picker
    assert import_checkpoint(data, "again.pt", DS, tmp_path / "runs") == (folder, False)
    payload = torch.load(io.BytesIO(data), weights_only=True)
    others = []
    for note in ("a", "b"):  # two other files of one name within one second: a folder each
        payload["metrics"] = json.dumps({**json.loads(payload["metrics"]), "note": note})  # stored as JSON text
        buf = io.BytesIO()
        torch.save(payload, buf)
        others.append(import_checkpoint(buf.getvalue(), "my run.pt", DS, tmp_path / "runs"))
    assert [new for _, new in others] == [True, True]
    again = [f for f, _ in others]
    assert len({folder, *again}) == 3 and len(list_runs(tmp_path / "runs")) == 3
    payload["metrics"] = "[1, 2]"  # JSON, but not an object of named values (it crashed the upload, leaving a folder)
    buf = io.BytesIO()
    torch.save(payload, buf)
    with pytest.raises(CheckpointError, match="JSON list, not an object"):
        import_checkpoint(buf.getvalue(), "list.pt", DS, tmp_path / "runs")
    assert sorted(d.name for d in (tmp_path / "runs").iterdir()) == sorted(f.name for f in (folder, *again))


def test_resume_continues_exactly(tmp_path):
    straight, full = _fit(_run(epochs=4))
    first = Trainer.for_run(_run(epochs=2), DS)
    part = first.fit()
    save_run(tmp_path / "r", first, part)
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    resumed = Trainer.for_run(_run(epochs=4), DS)
    resumed.load_resume_state(ckpt["resume"])
    rest = resumed.fit()
    assert _timeless(rest.history) == _timeless(full.history)
    assert rest.test == full.test


def test_a_checkpoint_written_while_training_resumes_exactly(tmp_path):
    """`train --save-every` writes the checkpoint at an epoch's end mid-fit (progress.save_progress), so that a run
    killed outright resumes: from there it must continue exactly as the run that was never stopped."""
    from mambarec.progress import save_progress

    _, full = _fit(_run(epochs=4))
    first = Trainer.for_run(_run(epochs=4), DS)
    first.fit(on_epoch_end=lambda: save_progress(tmp_path, first) if first.epoch == 2 else None)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["metrics"]["epochs_run"] == 2 and not (tmp_path / "metrics.json").exists()  # not listed as a run
    resumed = restore_trainer(ckpt, DS, run=_run(epochs=4))
    rest = resumed.fit()
    assert _timeless(rest.history) == _timeless(full.history)
    assert rest.test == full.test


def test_ctrl_c_in_a_resumed_run_keeps_the_weights_it_got_to(tmp_path):
    """The CLI answers Ctrl-C with a second fit that stops at once; in a resumed run that second fit reloaded the
    weights the resume started from, under counters that had moved on, so its checkpoint resumed wrongly."""
    _, full = _fit(_run(epochs=4))
    first = Trainer.for_run(_run(epochs=1), DS)
    save_run(tmp_path / "one", first, first.fit())
    resumed = restore_trainer(load_checkpoint(tmp_path / "one" / "checkpoint.pt"), DS, run=_run(epochs=4))

    def ctrl_c_before_epoch_4() -> bool:
        if resumed.epoch == 3:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        resumed.fit(should_stop=ctrl_c_before_epoch_4)
    save_run(tmp_path / "three", resumed, resumed.fit(should_stop=lambda: True))  # as `train` does after Ctrl-C
    last = restore_trainer(load_checkpoint(tmp_path / "three" / "checkpoint.pt"), DS, run=_run(epochs=4))
    rest = last.fit()
    assert _timeless(rest.history) == _timeless(full.history)


def test_a_run_stopped_mid_epoch_resumes_exactly(tmp_path):
    """Stop between two batches of epoch 3 (the app's Stop, a cooperative cancel), save, resume: the epoch
    cut short is rewound and trained again whole, so the run equals one that was never stopped."""
    _, straight = _fit(_run(epochs=4))
    calls = {"n": 0}
    first = Trainer.for_run(_run(epochs=4), DS)

    def stop_inside_epoch_3() -> bool:
        if first.epoch == 2:
            calls["n"] += 1
        return calls["n"] >= 3  # epoch 3's first check is before it starts; its second batch has run by the third

    part = first.fit(should_stop=stop_inside_epoch_3)
    assert part.cancelled and part.epochs_run == 2 and len(part.history) == 2
    save_run(tmp_path / "r", first, part)
    resumed = restore_trainer(load_checkpoint(tmp_path / "r" / "checkpoint.pt"), DS)
    rest = resumed.fit()
    assert _timeless(rest.history) == _timeless(straight.history) and rest.test == straight.test


def test_an_interrupt_during_an_epoch_rewinds_it():
    """Ctrl-C inside an epoch: the CLI catches it and fits again with a stop; the state is the epoch's start."""
    _, straight = _fit(_run(epochs=3))
    trainer = Trainer.for_run(_run(epochs=3), DS)
    trainer.fit(should_stop=lambda: trainer.epoch >= 1)  # one whole epoch
    original = trainer.train_epoch

    def interrupted(should_stop):
        original(should_stop)  # the weights move all the way through the epoch...
        raise KeyboardInterrupt  # ...and the interrupt lands before its record

    trainer.train_epoch = interrupted
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    trainer.train_epoch = original
    assert trainer.epoch == 1 and len(trainer.history) == 1
    rest = trainer.fit()
    assert _timeless(rest.history) == _timeless(straight.history) and rest.test == straight.test


def test_cli_ctrl_c_before_any_epoch_ends_writes_nothing_and_exits_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the data loads printed pandas' traceback; Ctrl-C inside the first epoch saved a run with no
    numbers ("keeping the best state so far" of none), which `compare` then listed and took as its reference. Now
    both say in one line that nothing was written, write no run folder, and exit 130, so a loop over seeds stops."""
    import mambarec.cli as cli

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    flags = ["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "3"]
    with monkeypatch.context() as m:
        m.setattr(cli, "load_dataset", ctrl_c)  # while the data loads
        assert main([*flags, "--out", str(tmp_path / "loading")]) == 130
    assert capsys.readouterr().err.strip().endswith("interrupted: `train` stopped before training began: nothing "
                                                    "was written")
    with monkeypatch.context() as m:
        m.setattr(Trainer, "train_epoch", ctrl_c)  # inside the first epoch
        assert main([*flags, "--out", str(tmp_path / "first_epoch")]) == 130
    assert "interrupted before the first epoch ended: nothing trained, nothing saved" in capsys.readouterr().err
    assert not (tmp_path / "loading").exists() and not (tmp_path / "first_epoch").exists()
    assert list_runs(tmp_path) == []


def test_history_logs_the_rate_after_each_epochs_scheduler_step():
    """Row e holds the rate epoch e + 1 trains with (the stored grid's histories and probes carry this meaning)."""
    run = _run(epochs=3)
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, warmup_epochs=2))
    result = Trainer.for_run(run, DS).fit()
    tc = run.train
    factor = lr_factor(tc.lr_decay, tc.lr_decay_epochs, tc.warmup_epochs)
    assert [h["lr"] for h in result.history] == pytest.approx([tc.learning_rate * factor(e) for e in (1, 2, 3)])
    assert result.history[0]["lr"] == pytest.approx(tc.learning_rate * factor(1))  # warm-up done: the full rate


def test_a_restored_trainer_resumes_from_where_training_stopped_not_from_the_best(tmp_path):
    _, straight = _fit(_run(epochs=4))
    first = Trainer.for_run(_run(epochs=2), DS)
    part = first.fit()
    assert part.best_epoch < part.epochs_run  # the best weights are not where training stopped
    save_run(tmp_path / "r", first, part)
    restored = restore_trainer(load_checkpoint(tmp_path / "r" / "checkpoint.pt"), DS, run=_run(epochs=4))
    assert restored.evaluate()["test"] == pytest.approx(part.test, abs=1e-9)  # the best weights in place
    rest = restored.fit()  # what `train --resume` runs
    assert _timeless(rest.history) == _timeless(straight.history) and rest.test == straight.test


def test_bad_checkpoints_are_explained(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable") as err:
        load_checkpoint(junk)
    assert "weights_only" not in str(err.value)  # never torch's advice to unpickle what the file holds
    assert "Error" not in str(err.value)  # nor the reader's exception name ("IndexError" told a user nothing)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError, match="not a MambaRec checkpoint"):
        load_checkpoint(other)
    trainer, result = _fit(_run(epochs=1))
    path = save_checkpoint(tmp_path / "c.pt", trainer.run, trainer.model.state_dict(), {}, "tiny",
                           DS.fingerprint())
    with pytest.raises(CheckpointError, match="fingerprint"):
        load_checkpoint(path, expect_fingerprint="0" * 16)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "future.pt")
    for key, value, says in (("format_version", -3, "not a version mambarec wrote"),
                             ("state_dict", None, "lacks its state_dict"),
                             ("metrics", b"\x00", "metrics are not readable")):
        broken = dict(torch.load(path, weights_only=True))
        if value is None:
            del broken[key]
        else:
            broken[key] = value
        torch.save(broken, tmp_path / "broken.pt")
        with pytest.raises(CheckpointError, match=says):
            load_checkpoint(tmp_path / "broken.pt")
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)
    for text in (b"root:x:0:0:root:/root:/bin/bash\n", b"hello world\n"):  # torch raises IndexError, KeyError
        junk.write_bytes(text)
        with pytest.raises(CheckpointError, match="not a readable"):
            load_checkpoint(junk)


def test_damaged_weights_are_refused(tmp_path):
    """A byte changed inside the tensor data reads back without complaint from torch; the digest catches it. NaN
    weights are refused, with or without a digest (a file written before digests existed has none)."""
    trainer, _ = _fit(_run(epochs=1))
    state = trainer.model.state_dict()
    path = save_checkpoint(tmp_path / "c.pt", trainer.run, state, {}, "tiny", DS.fingerprint())
    assert load_checkpoint(path)["state_dict"].keys() == state.keys()
    data = bytearray(path.read_bytes())
    name, weight = max(((k, v) for k, v in state.items() if v.is_floating_point()), key=lambda kv: kv[1].numel())
    raw = weight.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()[:64]
    at = bytes(data).index(raw)  # the largest weight's first bytes, inside the file
    data[at + 3] ^= 0x01  # one bit of the first float's exponent: a plausible, wrong number
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    assert torch.load(damaged, weights_only=True)["state_dict"][name].reshape(-1)[0] != weight.reshape(-1)[0]
    with pytest.raises(CheckpointError, match="damaged after it was written"):
        load_checkpoint(damaged)
    for digest in (True, False):
        payload = torch.load(path, weights_only=True)
        payload["state_dict"][name] = payload["state_dict"][name].clone().fill_(float("nan"))
        if digest:
            payload["digest"] = weights_digest({"state_dict": payload["state_dict"], "resume": None})
        else:
            del payload["digest"]
        torch.save(payload, tmp_path / "nan.pt")
        with pytest.raises(CheckpointError, match=f"{name}.*NaN"):
            load_checkpoint(tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="not on"):
        restore_trainer(load_checkpoint(path), tiny_dataset(seed=9))


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('/tmp/mambarec_pwned', 'w').write('x')",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "mambarec-checkpoint", "x": Evil()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "weights_only" not in str(err.value) and not Path("/tmp/mambarec_pwned").exists()


def test_cli_train_and_evaluate(tmp_path, capsys):
    out = tmp_path / "cli_run"
    rc = main(["train", "--dataset", "synthetic", "--out", str(out), "--epochs", "2", "--seed", "3",
               "--variant", "official", "--lambda-mmd", "0.2", "--use-cl", "false", "--batch-size", "4096"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["variant"] == "official" and cfg["model"]["lambda_mmd"] == 0.2
    assert cfg["model"]["use_cl"] is False
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test/Recall@20", "valid/NDCG@10", "history"} <= set(metrics)
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test/Recall@20"] == pytest.approx(metrics["test/Recall@20"], abs=1e-9)


def test_a_second_ctrl_c_while_a_stopped_run_saves_does_not_throw_it_away(tmp_path, capsys, monkeypatch):
    """Ctrl-C pressed twice: the second landed while the first's final evaluation and save ran, and the run was
    gone, with only "interrupted: `train` stopped" said (rehearsal r54, F1). It now waits for the save."""
    import os
    import signal

    real_fit, calls = Trainer.fit, []

    def fit(self, on_event=None, should_stop=None, on_epoch_end=None):
        calls.append(should_stop)
        if len(calls) == 1:  # the run: Ctrl-C after its second epoch
            def ctrl_c():
                if self.epoch >= 2:
                    raise KeyboardInterrupt
            return real_fit(self, on_event, should_stop, ctrl_c)
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, in the final evaluation
        return real_fit(self, on_event, should_stop, on_epoch_end)

    monkeypatch.setattr(Trainer, "fit", fit)
    before = signal.getsignal(signal.SIGINT)  # Python's, or ignored where the tests run in the background (CI)
    out = tmp_path / "twice"
    code = main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 128 + signal.SIGINT and len(calls) == 2
    assert "still saving the best state so far: one moment" in err
    assert "interrupted after 2 of 50 epochs: the best state so far (epoch" in err
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # put back once saved


def test_cli_train_stopped_by_sigterm_saves_the_best_state_and_resumes(tmp_path, capsys):
    """`kill`, `timeout` or a scheduler's preemption ended `train` with nothing written (a paper-schedule ml100k run
    is ~1,000 s); SIGTERM now stops it as Ctrl-C does: the best state so far is saved and resumes."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "terminated"
    proc = subprocess.Popen([sys.executable, "-m", "mambarec", "train", "--dataset", "synthetic", "--model", "bpr",
                             "--epochs", "100000", "--patience", "100000", "--out", str(out)],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = ""
    deadline = time.time() + 300
    while "best=" not in seen:  # the progress bar's first evaluated epoch
        assert time.time() < deadline and proc.poll() is None, seen[-2000:]
        seen += proc.stderr.read(1)
    # a second `train` into the same --out is refused before it trains, --overwrite or not (it used to train in full,
    # then lose its result at the save, or replace the other's files one by one)
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "1", "--out", str(out),
                 "--overwrite"]) == 2
    assert f"another `train` (process {proc.pid}) is writing there" in capsys.readouterr().err
    proc.send_signal(signal.SIGTERM)
    printed, err = proc.communicate(timeout=300)
    # 128 + SIGTERM, as a shell reports it: a loop over seeds stops here instead of starting the next one
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"]
    assert (f"interrupted after {metrics['epochs_run']} of 100000 epochs: the best state so far (epoch "
            f"{metrics['best_epoch']}) is saved in {out}; continue the run with: python -m mambarec train --resume "
            f"{out} --out {out}") in err
    assert json.loads(printed.splitlines()[-1])["cancelled"] is True
    assert not (out / ".train.lock").exists()  # let go at the end
    # killed outright (SIGKILL, out of memory) after --save-every wrote its checkpoint: it resumes from there
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "mambarec", "train", "--dataset", "synthetic", "--model", "bpr",
                             "--epochs", "100000", "--patience", "100000", "--save-every", "0.001", "--out",
                             str(killed)], cwd=Path(__file__).resolve().parents[1], stderr=subprocess.DEVNULL)
    while not (killed / "checkpoint.pt").is_file():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # past the first checkpoint's atomic rename
    proc.kill()
    proc.wait(timeout=60)
    done = load_checkpoint(killed / "checkpoint.pt")["resume"]["counters"]["epoch"]
    assert done >= 1 and not (killed / "metrics.json").exists()
    assert main(["train", "--resume", str(killed / "checkpoint.pt"), "--out", str(killed),
                 "--epochs", str(done + 1)]) == 0
    assert json.loads((killed / "metrics.json").read_text())["epochs_run"] == done + 1
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / ".train.lock").write_text("999999999")  # a claim whose process is gone (killed) is taken over
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "1", "--out", str(stale)]) == 0
    assert (stale / "metrics.json").is_file() and not (stale / ".train.lock").exists()
    again = tmp_path / "resumed"
    assert main(["train", "--resume", str(out / "checkpoint.pt"), "--out", str(again),
                 "--epochs", str(metrics["epochs_run"] + 1)]) == 0
    assert json.loads((again / "metrics.json").read_text())["epochs_run"] == metrics["epochs_run"] + 1


def test_a_claim_from_another_host_is_held_and_named_never_taken_for_dead(tmp_path, capsys):
    """A runs folder shared across machines (NFS): a claim names its process and host, and a process id means nothing
    on another machine. A run training on host b had read as dead on host a, which adopted its progress save and
    deleted its claim. Another host's claim now holds (a `train --out` there, a rename or a delete are refused, with
    how to free a claim whose process is gone), takes none of this machine's queue slots, and is never adopted."""
    from mambarec.catalog import live_writers
    from mambarec.progress import adopt_orphans, save_progress
    from mambarec.store import HOST, RunStoreError, lock_owner, refuse_if_claimed

    remote = tmp_path / "remote"
    remote.mkdir()
    lock = remote / ".train.lock"
    lock.write_text(f"{os.getpid()}@not-{HOST}")  # a pid alive here means nothing for another host
    assert lock_owner(lock) == (os.getpid(), f"not-{HOST}")
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "1", "--out", str(remote)]) == 2
    said = capsys.readouterr().err
    assert f"on host not-{HOST}" in said and f"delete {lock}" in said and not (remote / "metrics.json").exists()
    with pytest.raises(RunStoreError, match="on host not-"):
        refuse_if_claimed(remote, "rename")
    assert live_writers(tmp_path) == {}  # not this machine's cores
    run = RunConfig(dataset="synthetic", model_name="bpr", model=BPRConfig(), train=TrainConfig(epochs=1))
    trainer = Trainer.for_run(run, load_dataset("synthetic"))
    trainer.fit()
    save_progress(remote, trainer)  # its progress save, mid-run on host b
    lock.write_text(f"999999999@not-{HOST}")  # no such process here: still not taken for dead
    assert adopt_orphans(tmp_path) == [] and lock.exists() and not (remote / "metrics.json").exists()
    lock.write_text("999999999")  # a bare id (a claim from before hosts were named) is this host's: dead, adopted
    assert adopt_orphans(tmp_path) == [remote] and not lock.exists()


def test_cli_reports_bad_input_clearly(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "o"), "--reduction-factor", "3"]) == 2
    assert "--reduction-factor must be one of 1, 2, 4, 8, 16, 32" in capsys.readouterr().err  # the flag, as typed
    with pytest.raises(SystemExit):
        main(["train", "--out", str(tmp_path / "o"), "--no-such-flag", "1"])


def test_a_disk_too_full_for_the_checkpoint_is_refused_before_training_and_a_failed_save_says_why(
        tmp_path, capsys, monkeypatch):
    """A full disk found at the end lost the whole run behind a torch traceback ("unexpected pos")."""
    import shutil

    import mambarec.store as store

    real = shutil.disk_usage
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: real(p)._replace(free=2**20))
    out = tmp_path / "full"
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "MiB are free there; free some space or choose another --out" in err and "Traceback" not in err
    assert not out.exists()
    monkeypatch.setattr(store.shutil, "disk_usage", real)

    def no_room(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1007168 vs 1007056")

    import mambarec.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "save_checkpoint", no_room)
    assert main(["train", "--dataset", "synthetic", "--model", "bpr", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the run could not be saved" in err and "A full disk is the usual cause" in err
    assert not (out / "metrics.json").exists()


def test_a_checkpoint_with_a_damaged_resume_state_or_weights_that_do_not_fit_is_refused(tmp_path, capsys):
    """--resume of a damaged resume state crashed with KeyError: 'counters'; an upload whose weights do not fit the
    model its config describes was accepted and crashed the Embeddings page later."""
    ds = load_dataset("synthetic")
    run = RunConfig(dataset="synthetic", model_name="bpr", model=BPRConfig(), train=TrainConfig(epochs=1))
    trainer = Trainer.for_run(run, ds)
    folder = save_run(tmp_path / "run", trainer, trainer.fit())
    ckpt = load_checkpoint(folder / "checkpoint.pt")
    damaged = tmp_path / "damaged.pt"
    save_checkpoint(damaged, ckpt["run"], ckpt["state_dict"], ckpt["metrics"], ckpt["dataset"],
                    ckpt["dataset_fingerprint"], resume={"foo": 1})
    rc = main(["train", "--resume", str(damaged), "--out", str(tmp_path / "again"), "--epochs", "3"])
    err = capsys.readouterr().err
    assert rc == 2 and "its resume state is incomplete" in err and "Traceback" not in err
    other = dataclasses.replace(run, model=dataclasses.replace(run.model, embedding_dim=run.model.embedding_dim // 2))
    misfit = tmp_path / "misfit.pt"
    save_checkpoint(misfit, other, ckpt["state_dict"], ckpt["metrics"], ckpt["dataset"], ckpt["dataset_fingerprint"])
    with pytest.raises(CheckpointError, match="size mismatch for user_embedding.weight") as err:
        import_checkpoint(misfit.read_bytes(), "misfit.pt", ds, root=tmp_path / "uploads")
    assert "\n" not in str(err.value)  # one line, not torch's list of every tensor
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


def test_cli_help_lists_switches_with_paper_symbols(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for needle in ("--lambda-mmd", "lambda_mmd", "--sigma", "sigma:", "--tau", "--reduction-factor", "r:",
                   "--branch-dilated-2", "--channel-attention"):
        assert needle in text, needle


def test_cli_help_names_every_on_off_spelling_the_flags_take(capsys):
    """`--use-mmd yes` trained with MMD on, while --help listed only {true,false} (audit r75, item 10)."""
    from mambarec.config.fields import FALSE_WORDS, TRUE_WORDS, parse_bool

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model fields"))
    said = " ".join(itertools.takewhile(lambda line: not line.lstrip().startswith("--"), lines[start + 1:]))
    for word in (*TRUE_WORDS, *FALSE_WORDS):
        assert parse_bool(word) is (word in TRUE_WORDS)
        assert re.search(rf"(?<![\w-]){word}(?![\w-])", said), (word, said)


def test_cli_help_survives_a_percent_sign_in_a_fields_help(capsys, monkeypatch):
    """argparse reads '%' in a help text as a format: a field's help saying '25% faster' made --help crash."""
    import mambarec.cli_flags as cli_flags

    monkeypatch.setattr(cli_flags, "help_text", lambda cls, name: f"{name}: 25% faster")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "learning_rate: 25% faster" in capsys.readouterr().out


def test_synthetic_beats_popularity_quickly():
    ds = load_dataset("synthetic")
    run = RunConfig(model=mambarec_preset("paper"), train=TrainConfig(epochs=8, patience=8))
    _, result = _fit(run, ds)
    scores = torch.from_numpy(np.tile(ds.item_popularity().astype("float32"), (ds.n_users, 1)))
    pop = topk_metrics(scores, ds.matrix("train"), ds.matrix("test"))
    assert result.test["Recall@20"] > 1.5 * pop["Recall@20"]


def test_an_atomic_write_replaces_the_file_whole_or_not_at_all(tmp_path):
    from mambarec.atomic import write_atomically

    target = tmp_path / "a.json"
    write_atomically(target, lambda tmp: tmp.write_text("old"))
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"] and target.read_text() == "old"

    def crash(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(target, crash)
    assert target.read_text() == "old"  # the target never holds a half write


def test_compiled_dream_trains_the_same_run_up_to_rounding():
    """TrainConfig.compile = "dream" puts DREAM through torch.compile: the same losses and metrics as eager, to
    float32 rounding; the weights come back without any compile wrapper in their names."""
    eager, eager_result = _fit(_run(epochs=2))
    run = _run(epochs=2)
    compiled = Trainer.for_run(dataclasses.replace(run, train=dataclasses.replace(run.train, compile="dream")), DS)
    blocks = [b for b in compiled.model.modules() if isinstance(b, Dream)]
    assert blocks and all("forward" in b.__dict__ for b in blocks)  # each block's forward replaced by the compiled one
    result = compiled.fit()
    for a, b in zip(eager_result.history, result.history, strict=True):
        assert a["loss/total"] == pytest.approx(b["loss/total"], rel=1e-4)
    assert result.test["Recall@20"] == pytest.approx(eager_result.test["Recall@20"], abs=1e-6)
    assert compiled.model.state_dict().keys() == eager.model.state_dict().keys()


def test_compile_is_refused_where_it_cannot_run(monkeypatch):
    with pytest.raises(ConfigError, match="has none"):
        RunConfig(model=mambarec_preset("paper", use_dream=False), train=TrainConfig(compile="dream"))
    monkeypatch.setenv("PATH", "")  # no C++ compiler to be found
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler"):
        compile_dream(Trainer.for_run(_run(epochs=1), DS).model)


def test_with_eval_every_the_last_epoch_is_evaluated_too(monkeypatch):
    """eval_every = 3 over 4 epochs evaluates epochs 3 and 4: the cap's epoch is never left unscored."""
    run = RunConfig(model=mambarec_preset("paper", reduction_factor=2),
                    train=TrainConfig(epochs=4, batch_size=16, eval_every=3))
    trainer = Trainer.for_run(run, DS)
    curve = iter([0.1, 0.2])
    monkeypatch.setattr(trainer, "evaluate", lambda: (lambda v: {"valid": {"Recall@20": v}, "test": {"Recall@20": v}})(
        next(curve)))
    result = trainer.fit()
    assert [row["epoch"] for row in result.history] == [3, 4] and result.best_epoch == 4


def test_an_optimizer_state_of_another_setup_is_refused_by_what_differs():
    """mambarec.optim.Adam.load_state_dict: a resume state whose parameters differ in number or shape says so (and
    that the checkpoint is of another setup) instead of stepping with mismatched moments; a moment of the right
    shape loads onto the parameter's device and dtype."""
    from mambarec.optim import Adam

    params = [torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(4))]
    donor = [torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(5))]
    opt = Adam(donor, lr=1e-3)
    for p in donor:
        p.grad = torch.ones_like(p)
    opt.step()
    with pytest.raises(ValueError, match=r"parameter 1 has shape \(5,\), the model's is \(4,\).*another setup"):
        Adam(params, lr=1e-3).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"\[2\] parameters.*trains 1 in one.*another setup"):
        Adam(params[:1], lr=1e-3).load_state_dict(opt.state_dict())
    same = Adam([torch.nn.Parameter(torch.zeros(3, 2, dtype=torch.float64))], lr=1e-3)
    same.load_state_dict({"state": {0: opt.state_dict()["state"][0]}, "param_groups": [
        {**opt.state_dict()["param_groups"][0], "params": [0]}]})
    moments = next(iter(same.state.values()))
    assert moments["exp_avg"].dtype == torch.float64 and moments["step"].dtype == torch.float32
    assert float(moments["step"]) == 1.0  # one step of gradient 1: the first moment is (1 - beta1) x 1, in float32
    assert torch.equal(moments["exp_avg"], torch.full((3, 2), 0.1).double())


def _hold_once(lock: str, barrier, held, out) -> None:
    from mambarec.store import RunStoreError, holding

    barrier.wait()
    try:
        with holding(Path(lock), lambda pid: f"busy {pid}"):
            held.value += 1
            out.put(held.value)  # how many held it at once, seen from inside
            time.sleep(0.05)
            held.value -= 1
    except RunStoreError:
        out.put(0)


def test_two_processes_starting_together_never_both_hold_a_run_folder(tmp_path):
    """The claim was created empty and its process id written after: a second `train --out SAME` started at the
    same instant read no holder, took it for a dead one's and both trained (2 of 6 tries, and 65 of 300 for the
    claim alone; audit r60). The claim now appears with its id in it."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    held, out = ctx.Value("i", 0), ctx.Queue()
    for trial in range(30):
        lock = tmp_path / f"{trial}.lock"
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_hold_once, args=(str(lock), barrier, held, out)) for _ in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        seen = sorted(out.get(timeout=10) for _ in procs)
        assert seen[-1] == 1 and seen[0] in (0, 1), (trial, seen)  # never two at once
        assert not lock.exists() and not list(tmp_path.glob(f"{trial}.lock.*"))  # let go, no scratch left


def test_a_run_folder_being_written_is_not_renamed_or_deleted(tmp_path):
    """Renamed while a `train --resume` wrote it, a run was split in two; deleted, its save brought it back (r60)."""
    import subprocess
    import sys

    from mambarec.catalog import delete_run, rename_run
    from mambarec.store import LOCK_NAME, RunStoreError, check_writable

    trainer, result = _fit(_run(epochs=1))
    folder = save_run(tmp_path / "run", trainer, result)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / LOCK_NAME).write_text(str(writer.pid))
        with pytest.raises(RunStoreError, match=rf"run is being written by process {writer.pid} .*: rename it once"):
            rename_run(folder, "other")
        with pytest.raises(RunStoreError, match="delete it once that run has ended"):
            delete_run(folder)
        # and `train --out` into it names the writer first, not --overwrite or --resume, which it refuses too
        with pytest.raises(RunStoreError, match=rf"another `train` \(process {writer.pid}\) is writing there"):
            check_writable(folder, overwrite=True)
    finally:
        writer.kill()
        writer.wait()
    assert rename_run(folder, "other") == tmp_path / "other"  # its writer gone: the claim is a dead one's


def test_a_run_folder_renamed_while_the_runs_are_listed_is_not_called_damaged(tmp_path, monkeypatch):
    """A rename between the listing and the read was reported as a damaged folder, to retrain or delete (r60)."""
    import shutil

    import mambarec.catalog as catalog

    trainer, result = _fit(_run(epochs=1))
    for name in ("stays", "moves"):
        save_run(tmp_path / name, trainer, result)
    read = catalog.read_run

    def renamed_meanwhile(folder):
        if folder.name == "moves":
            shutil.move(folder, folder.with_name("moved"))
        return read(folder)

    monkeypatch.setattr(catalog, "read_run", renamed_meanwhile)
    unreadable: list = []
    assert [r.id for r in list_runs(tmp_path, unreadable)] == ["stays"] and unreadable == []


def test_the_learning_rate_factor_is_the_documented_warm_up_and_smooth_decay():
    """decay ** (e / every) from epoch 0, times (e + 1) / warmup over the first ``warmup`` epochs: by hand, not
    through ``lr_factor`` itself (which the history test above compares against)."""
    f = lr_factor(0.5, 2, 2)
    assert [f(e) for e in range(4)] == pytest.approx([0.5, 0.5**0.5, 0.5, 0.5**1.5])
    g = lr_factor(0.96, 50, 0)
    assert (g(0), g(25), g(50)) == pytest.approx((1.0, 0.96**0.5, 0.96))


def test_a_valid_recall_of_zero_is_still_a_best_epoch(monkeypatch):
    """A model that scores 0 on valid for every epoch (an untrained start on a small catalog) keeps its first epoch as
    the best, with its numbers, and stops after patience + 1 epochs without a strict improvement."""
    run = RunConfig(model=mambarec_preset("paper", reduction_factor=2),
                    train=TrainConfig(epochs=50, batch_size=16, patience=1))
    trainer = Trainer.for_run(run, DS)
    monkeypatch.setattr(trainer, "evaluate", lambda: {"valid": {"Recall@20": 0.0}, "test": {"Recall@20": 0.0}})
    result = trainer.fit()
    assert result.best_epoch == 1 and result.valid == {"Recall@20": 0.0} and result.test == {"Recall@20": 0.0}
    assert result.stopped_early and result.epochs_run == 3


def test_an_epoch_visits_every_training_pair_once_in_a_shuffled_order_and_logs_the_mean_loss(monkeypatch):
    """The history's losses are means over the epoch's batches (not sums), and the batches cover the training pairs,
    each once, in the order of the run's permutation (not the stored order)."""
    trainer = Trainer.for_run(_run(epochs=1), DS)
    seen, totals = [], []
    loss = trainer.model.loss

    def recording(users, pos, neg):
        parts = loss(users, pos, neg)
        seen.extend(zip(users.tolist(), pos.tolist(), strict=True))
        totals.append(float(parts["total"].detach()))
        return parts

    monkeypatch.setattr(trainer.model, "loss", recording)
    result = trainer.fit()
    assert len(totals) == 6  # 96 pairs in batches of 16
    assert sorted(seen) == sorted(map(tuple, DS.train.tolist()))
    assert seen != list(map(tuple, DS.train.tolist()))
    assert result.history[0]["loss/total"] == pytest.approx(np.mean(totals), rel=1e-12)


def test_seconds_per_epoch_is_the_epochs_training_time_over_the_epochs_run():
    _, result = _fit(_run(epochs=3))
    assert result.epochs_run == 3 and all(row["epoch_s"] > 0 for row in result.history)
    assert result.s_per_epoch == pytest.approx(sum(row["epoch_s"] for row in result.history) / 3, rel=1e-9)


def test_negatives_are_uniform_over_the_items_that_are_not_positives():
    """Every non-positive item about equally often, the last item id too (a first draw over [0, n_items - 1) gives it
    only through re-draws of a clash, some 4x too rarely): 6000 draws over 23 items, ~260 each, sd ~16."""
    sampler = NegativeSampler(DS.train, DS.n_items, torch.device("cpu"))
    user = int(DS.train[0, 0])
    counts = np.bincount(sampler(torch.full((6000,), user), torch.Generator().manual_seed(0)).numpy(),
                         minlength=DS.n_items)
    positives = sorted(set(DS.train[DS.train[:, 0] == user, 1].tolist()))
    others = np.delete(counts, positives)
    expected = 6000 / len(others)
    assert counts[positives].sum() == 0 and len(others) == DS.n_items - len(positives)
    assert np.all(np.abs(others - expected) < 0.3 * expected), others


def test_a_resumed_run_keeps_counting_its_bad_epochs(monkeypatch):
    """Patience runs over a resume: two bad epochs before the stop, one after it, is three bad epochs (> patience 2),
    so the resumed run stops at its first epoch, with the best epoch from before the resume."""
    def scripted(trainer, values):
        curve = iter(values)
        monkeypatch.setattr(trainer, "evaluate", lambda: (lambda v: {"valid": {"Recall@20": v},
                                                                     "test": {"Recall@20": v}})(next(curve)))

    def run(epochs):
        return RunConfig(model=mambarec_preset("paper", reduction_factor=2),
                         train=TrainConfig(epochs=epochs, batch_size=16, patience=2))

    first = Trainer.for_run(run(3), DS)
    scripted(first, [0.3, 0.1, 0.1])
    part = first.fit()
    assert not part.stopped_early and part.best_epoch == 1
    again = Trainer.for_run(run(10), DS)
    again.load_resume_state(first.resume_state())
    scripted(again, [0.1] * 7)
    result = again.fit()
    assert result.stopped_early and result.epochs_run == 4 and result.best_epoch == 1
