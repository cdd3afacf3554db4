"""``python -m mambarec``: train, evaluate, compare, data, precompute, readme.

Every field of every model's config and of TrainConfig is a flag (``lambda_mmd`` -> ``--lambda-mmd``)
whose help is the field's documented meaning and paper symbol (``mambarec.config.fields``). A flag
given explicitly that the chosen ``--model`` does not have is an error; ``--variant`` picks
MambaRec's preset, and ``--variant mgcn`` is an alias of ``--model mgcn``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from tqdm import tqdm

from mambarec.cli_flags import (  # noqa: F401  (run_config_from_args: re-exported for bench/ and tests)
    MODEL_FLAG_PREFIX,
    TRAIN_FLAG_PREFIX,
    add_config_flags,
    explicit_values,
    flag,
    run_config_from_args,
)
from mambarec.cli_parser import CliParser
from mambarec.compare_cli import add_compare_command
from mambarec.config import (
    DEVICES,
    MODELS,
    VARIANTS,
    ConfigError,
    coerce_field,
)
from mambarec.data import DatasetError, load_dataset
from mambarec.data.cli import add_data_commands
from mambarec.errors import UserError
from mambarec.precompute_cli import add_precompute_command
from mambarec.progress import Autosave
from mambarec.readme import add_readme_command
from mambarec.store import (
    CHECKPOINT_NAME,
    RunStoreError,
    check_room,
    check_writable,
    claim_words,
    claimed,
    save_run,
)
from mambarec.summary import runaway_loss

# the epoch cap, where the run trains and whether DREAM is compiled (the same mathematics)
RESUME_MAY_CHANGE = ("epochs", "device", "compile")
# `train` writes its checkpoint this often while it runs (~0.1-0.3 s for an ml100k model): a run killed outright
# (SIGKILL, out of memory) loses at most this much; Ctrl-C and SIGTERM save at once anyway
SAVE_EVERY_S = 300.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:  # argparse said "invalid _seconds value", naming this function
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, 0 or more")
    return value


def _progress_printer(total_epochs: int, start: int = 0):

    bar = tqdm(total=total_epochs, initial=start, unit="epoch", dynamic_ncols=True)

    def on_event(e) -> None:
        bar.update(e.epoch - bar.n)
        loss = e.losses.get("total", float("nan"))
        bar.set_postfix(loss=f"{loss:.4f}", valid_R20=f"{e.valid.get('Recall@20', float('nan')):.4f}",
                        best=e.best_epoch)

    return bar, on_event


def _resume(args: argparse.Namespace, ckpt: dict, dataset):
    """The trainer of ``--resume`` from its loaded checkpoint: the stored run, with a new ``--epochs`` cap and,
    where given, another ``--device`` (a GPU's run resumes on a CPU and the other way round) or ``--compile``;
    other flags are refused."""
    from mambarec.checkpoint import restore_trainer  # lazy: torch-backed, kept off the light path

    if ckpt["resume"] is None:
        raise ConfigError(f"{args.resume} holds no resume state (saved without optimizer state, as precomputed/'s "
                          "checkpoints are); train a new run instead, or resume a checkpoint that `train` wrote")
    run = ckpt["run"]
    changed = _changed_on_resume(args, run)
    if changed:
        raise ConfigError(f"a resumed run keeps the settings it was trained with; only --epochs, --device and "
                          f"--compile can change (got {', '.join(changed)}); a flag equal to the run's own value "
                          "may stay")
    try:
        counters = ckpt["resume"]["counters"]
        int(counters["bad_epochs"]), int(counters["epoch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{args.resume}: its resume state is incomplete ({type(exc).__name__}: {exc}); the file "
                          "was damaged or not written by `train`. Train a new run instead") from exc
    if int(counters["bad_epochs"]) > run.train.patience:  # another epoch would end it again, one epoch later
        raise ConfigError(f"{args.resume} ended by early stopping: epoch {int(counters['epoch'])}, "
                          f"{run.train.patience + 1} epoch{'s' if run.train.patience else ''} after its best; "
                          "resumed, it would stop again after one more. --resume continues a run that reached its "
                          "--epochs cap or was stopped by hand; to train past early stopping, train a new run with a "
                          "larger --patience")
    for name in ("device", "compile"):  # how it trains, not what it computes
        if args.__dict__.get(TRAIN_FLAG_PREFIX + name) is not None:
            run = dataclasses.replace(run, train=dataclasses.replace(run.train, **{name: args.__dict__[
                TRAIN_FLAG_PREFIX + name]}))
    done = int(counters["epoch"])
    if args.__dict__.get(TRAIN_FLAG_PREFIX + "epochs") is not None:
        epochs = int(args.__dict__[TRAIN_FLAG_PREFIX + "epochs"])
        if epochs <= done:
            raise ConfigError(f"--epochs {epochs}: the run has already trained {done} epochs; give a larger cap")
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=epochs))
    elif done >= run.train.epochs:  # it trained nothing, said nothing, exited 0 and wrote a copy (rehearsal r54)
        raise ConfigError(f"{args.resume} already reached its cap of {run.train.epochs} epochs; pass --epochs N with "
                          f"N > {done} to continue it")
    trainer = restore_trainer(ckpt, dataset, run=run)
    best = ckpt.get("metrics", {}).get("best_epoch")
    print(f"resuming {args.resume} after epoch {done}" + (f" (best so far: epoch {best})" if best else "")
          + f" to a cap of {run.train.epochs} epochs", file=sys.stderr)  # the run it picked up, said (audit r59)
    return trainer


def _changed_on_resume(args: argparse.Namespace, run) -> list[str]:
    """The flags given with ``--resume`` whose values differ from the stored run's, as typed ("--seed 3").

    A flag equal to the stored value passes, so a loop such as ``train --seed $s --resume ...`` can be rerun
    (rehearsal r54, F14); one the run's model lacks counts as a change.
    """
    changed = []
    mgcn_alias = args.variant == "mgcn" and run.model_name == "mgcn"  # `--variant mgcn` names model mgcn (make_run)
    if args.model and args.model != run.model_name and not (mgcn_alias and args.model == "mambarec"):
        changed.append(f"--model {args.model}")
    if args.variant and args.variant != run.variant and not mgcn_alias:
        changed.append(f"--variant {args.variant}")
    for prefix, config in ((MODEL_FLAG_PREFIX, run.model), (TRAIN_FLAG_PREFIX, run.train)):
        names = {f.name for f in dataclasses.fields(config)}
        for name, raw in sorted(explicit_values(args, prefix).items()):
            if prefix == TRAIN_FLAG_PREFIX and name in RESUME_MAY_CHANGE:
                continue
            if name not in names or coerce_field(type(config), name, raw, flag) != getattr(config, name):
                changed.append(f"{flag(name)} {raw}")
    return changed


def cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    resuming = bool(args.resume) and out.resolve() == Path(args.resume).resolve().parent
    check_writable(out, overwrite=args.overwrite, resuming=resuming)  # before any work: nothing is lost later
    with claimed(out):  # one `train` per --out at a time
        try:
            trainer = _trainer(args)
        except KeyboardInterrupt:  # while the data loads: one line, no traceback (the claim lets the folder go)
            print("\ninterrupted: `train` stopped before training began: nothing was written", file=sys.stderr)
            return 128 + signal.SIGINT
        return _train(args, trainer, out, resuming)


def _trainer(args: argparse.Namespace):
    """The Trainer the flags describe, or the resumed one of ``--resume``."""
    from mambarec.train import Trainer  # lazy: torch-backed, kept off the light path

    if args.resume:
        from mambarec.checkpoint import load_checkpoint  # lazy: torch-backed, kept off the light path

        ckpt = load_checkpoint(args.resume)  # read and hashed once; its data is checked against the dataset below
        dataset = _kept_name(args, ckpt, _checkpoint_dataset(args, ckpt))
        trainer = _resume(args, ckpt, dataset)
    else:
        args.dataset = args.dataset or "synthetic"
        if Path(args.dataset).is_dir() and not Path(args.dataset).is_absolute():  # config.json names it from anywhere
            args.dataset = str(Path(args.dataset).resolve())
        run, notes = run_config_from_args(args)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        dataset = load_dataset(run.dataset, data_dir=args.data_dir)
        trainer = Trainer.for_run(run, dataset)
    return trainer


def _train(args: argparse.Namespace, trainer, out: Path, resuming: bool) -> int:
    run = trainer.run
    check_room(out, sum(t.numel() * t.element_size() for t in trainer.model.state_dict().values()))
    if trainer.model.trainable:
        bar, on_event = _progress_printer(run.train.epochs, trainer.epoch)
    else:  # pop: a bar of 0/1000 epochs with loss=nan read as a run that diverged
        print(f"{run.model_name}: nothing to train; evaluated once", file=sys.stderr)
        bar, on_event = None, None

    stopped_by: list[int] = []  # the signal that stopped the run, if one did

    def _terminate(signum, frame):  # `kill`, `timeout`, a scheduler's preemption: stop as Ctrl-C does, and save
        stopped_by.append(signum)
        raise KeyboardInterrupt

    autosave = Autosave(out, trainer, args.save_every)  # a run killed outright resumes from its last save
    previous = signal.signal(signal.SIGTERM, _terminate)
    held: dict = {}  # the handlers a stopped run's save set aside
    try:
        try:
            result = trainer.fit(on_event=on_event, on_epoch_end=autosave)
        except KeyboardInterrupt:
            if not stopped_by:  # Ctrl-C (SIGTERM's handler named itself)
                stopped_by.append(signal.SIGINT)
            held = _hold_signals()
            result = trainer.fit(should_stop=lambda: True)
        finally:
            if bar is not None:
                bar.close()
        # a stopped run exits as the shell's convention has it (130 for Ctrl-C, 143 for SIGTERM): a loop over seeds
        # (`for s in 0 1 2; do python -m mambarec train ...; done`) stops at Ctrl-C instead of starting the next seed
        code = 128 + int(stopped_by[0]) if stopped_by else 0
        if stopped_by and result.epochs_run == 0:  # nothing trained: no run folder that `compare` would list
            print("\ninterrupted before the first epoch ended: nothing trained, nothing saved", file=sys.stderr)
            return code
        saved = save_run(out, trainer, result, overwrite=args.overwrite, resuming=resuming or autosave.saved)
        saved = os.path.normpath(saved)  # `runs/../det/x` printed as typed read as two places (rehearsal r54, F18)
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
        signal.signal(signal.SIGTERM, previous)
    if stopped_by:
        print(f"\ninterrupted after {result.epochs_run} of {run.train.epochs} epochs: the best state so far (epoch "
              f"{result.best_epoch}) is saved in {saved}; continue the run with: python -m mambarec train --resume "
              f"{saved} --out {saved}", file=sys.stderr)
    if runaway := runaway_loss(result.history):
        print(f"warning: {runaway}", file=sys.stderr)
    summary = {k: round(v, 4) for k, v in result.test.items() if k.endswith("@10") or k.endswith("@20")}
    print(json.dumps({"out": str(saved), "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                      "stopped_early": result.stopped_early, "cancelled": result.cancelled, "test": summary,
                      "s_per_epoch": round(result.s_per_epoch, 3), "n_params": result.n_params}))
    return code


def _hold_signals() -> dict:
    """While a stopped run evaluates its best state and saves it, a further Ctrl-C or SIGTERM says so and is
    otherwise ignored: pressed twice, Ctrl-C landed in that window (0.2 s on ml100k) and threw the run away with
    only "interrupted: `train` stopped" (rehearsal r54). Returns the handlers it replaced."""
    def wait(signum, frame):
        print("\nstill saving the best state so far: one moment", file=sys.stderr)

    return {signum: signal.signal(signum, wait) for signum in (signal.SIGINT, signal.SIGTERM)}


DATA_FLAGS = ("pass --dataset with the folder of the data it was trained on, or --data-dir (or MAMBAREC_DATA) with "
              "the folder that holds it")


def _checkpoint_dataset(args: argparse.Namespace, ckpt: dict):
    """``--dataset``, else the dataset the checkpoint names; where that one is gone, say how to point at it."""
    if args.dataset:
        return load_dataset(args.dataset, data_dir=args.data_dir)
    try:
        return load_dataset(ckpt["run"].dataset, data_dir=args.data_dir)
    except DatasetError as exc:
        raise DatasetError(f"{str(exc).rstrip('.')}. The checkpoint was trained on {ckpt['run'].dataset!r}; if that "
                           "data moved, pass --dataset with its new place") from exc


def _kept_name(args: argparse.Namespace, ckpt: dict, dataset):
    """The data of a resumed run under the name it trained with, where ``--dataset`` points at the same data (its
    fingerprint) under another: a moved folder had the run's metrics filed under its new name, apart from its sister
    runs on Compare (audit r75)."""
    trained_on = ckpt.get("dataset")
    if not (args.dataset and trained_on and dataset.name != trained_on
            and dataset.fingerprint() == ckpt.get("dataset_fingerprint")):
        return dataset
    print(f"note: {args.dataset} holds the data this run trained on as {trained_on!r}; the run keeps that name",
          file=sys.stderr)
    return dataclasses.replace(dataset, name=trained_on)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mambarec.checkpoint import DatasetMismatchError, load_checkpoint, load_model  # lazy: torch-backed
    from mambarec.evaluate import evaluate_model  # lazy: torch-backed, kept off the light path

    # a run still training with no save yet: it said only "no such checkpoint file" (audit r73); a run folder was
    # named by its checkpoint in ``main``
    folder = Path(args.checkpoint).parent
    if not Path(args.checkpoint).is_file() and (writer := claim_words(folder)) is not None:
        raise RunStoreError(f"{folder}: process {writer} is training into it and has saved no checkpoint yet; "
                            "evaluate it once that run has saved (at its end, or at its first progress save)")
    ckpt = load_checkpoint(args.checkpoint)
    dataset = _checkpoint_dataset(args, ckpt)
    try:
        model = load_model(ckpt, dataset, device=args.device)
    except DatasetMismatchError as exc:  # say how to point at the right data
        raise DatasetMismatchError(f"{exc}: {DATA_FLAGS}", exc.trained_on) from exc
    metrics = evaluate_model(model, dataset)
    print(json.dumps({f"{split}/{k}": v for split, m in metrics.items() for k, v in m.items()}, indent=2))
    return 0


TRAIN_EXAMPLES = """examples:
  python -m mambarec train --dataset synthetic --seed 0 --out runs/paper-s0
  python -m mambarec train --dataset synthetic --seed 0 --use-mmd false --out runs/no-mmd-s0   # one part off
  python -m mambarec train --dataset ml100k --model mgcn --schedule fast --out runs/mgcn
  python -m mambarec train --resume runs/paper-s0 --out runs/paper-s0 --epochs 2000   # continue it to a new cap"""


def build_parser() -> argparse.ArgumentParser:

    parser = CliParser(prog="python -m mambarec", description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,compare,data,precompute,readme}")
    sub.required = True
    tr = sub.add_parser("train", help="train one run and write config.json, metrics.json and the checkpoint",
                        description="Train one run to early stopping (or its --epochs cap) and write config.json, "
                                    "metrics.json and checkpoint.pt into --out. Every config field is a flag of its "
                                    "own (listed below); the README's 'Command line' section has more.",
                        epilog=TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("--dataset", default=None, help="synthetic, a name in the data dir, or a folder [default: "
                                                    "synthetic, or the checkpoint's with --resume]")
    tr.add_argument("--data-dir", default=None, help="folder holding named datasets (default $MAMBAREC_DATA)")
    tr.add_argument("--out", required=True, help="run folder to write (refused if it holds a run, unless "
                                                 "--overwrite, or --resume of its own checkpoint)")
    tr.add_argument("--overwrite", action="store_true", help="replace the run folder --out if it exists")
    tr.add_argument("--save-every", type=_seconds, default=SAVE_EVERY_S, metavar="SECONDS",
                    help=f"write the checkpoint (best weights, resume state) into --out this often while training, "
                         f"so that a run killed outright resumes from it; 0: only at the end [{SAVE_EVERY_S:g}]")
    tr.add_argument("--model", default=None, choices=MODELS, help="which model (baselines included) [mambarec]")
    tr.add_argument("--variant", default=None, choices=(*VARIANTS, "mgcn"),
                    help="MambaRec's preset: paper (as described), official (as released), backbone (every extra "
                         "off); mgcn is an alias of --model mgcn [paper]")
    tr.add_argument("--resume", default=None, help="continue a run that reached its cap or was stopped by hand, "
                                                   "from its checkpoint (or its run folder); only --epochs (a new "
                                                   "cap), --device and --compile may change")
    add_config_flags(tr)
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="re-evaluate a checkpoint on its dataset",
                        description="Score a saved checkpoint again on its dataset (full ranking, training items "
                                    "masked) and print its valid and test metrics as JSON.",
                        epilog="example:\n  python -m mambarec evaluate runs/paper-s0",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("checkpoint", help="checkpoint.pt (or a run folder)")
    ev.add_argument("--dataset", default=None, help="dataset (default: the one in the checkpoint)")
    ev.add_argument("--data-dir", default=None, help="folder holding named datasets (default $MAMBAREC_DATA)")
    ev.add_argument("--device", default="cpu", choices=DEVICES,
                    help="where to evaluate: cpu, cuda, or auto (CUDA when available) [default: cpu]")
    ev.set_defaults(func=cmd_evaluate)
    add_compare_command(sub)
    add_data_commands(sub)
    add_precompute_command(sub)
    add_readme_command(sub)
    parser.set_defaults(commands=sub.choices)  # main() blames an unknown flag on its subcommand
    return parser


OUT_OF_MEMORY = ("can't allocate memory", "out of memory", "Unable to allocate")  # torch's CPU and CUDA, numpy


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser_of = args.commands.get(getattr(args, "command", None), parser)
        parser_of.unrecognized(extras)
    for name in ("checkpoint", "resume"):  # `evaluate`'s file and `train --resume`: a run folder names its checkpoint
        path = getattr(args, name, None)
        if path and Path(path).is_dir():
            setattr(args, name, str(Path(path) / CHECKPOINT_NAME))
    if isinstance(getattr(args, "dataset", None), str) and not args.dataset.strip():
        print("error: --dataset is empty; name a dataset (`python -m mambarec data scenarios` lists the built-in "
              "ones) or an MMRec folder, or leave the flag out", file=sys.stderr)
        return 2
    if isinstance(getattr(args, "out", None), str) and not args.out.strip():  # read as "." (audit r75)
        print("error: --out is empty; name the folder to write", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `... | head` closed the pipe: not an error, and no traceback at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (which saves and says so itself): one line, no traceback
        print(f"\ninterrupted: `{args.command}` stopped", file=sys.stderr)
        return 128 + signal.SIGINT
    except FloatingPointError as exc:  # a run that diverged: what to change, not a traceback
        print(f"error: training diverged: {exc}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and not any(w in str(exc) for w in OUT_OF_MEMORY):
            raise
        print(f"error: out of memory: this setup needs more memory than the machine has ({str(exc).splitlines()[0]}); "
              "lower embedding_dim, batch_size or eval_batch_users, or use a larger machine", file=sys.stderr)
        return 2
    except Exception as exc:
        if not isinstance(exc, UserError):  # a bug: its traceback is the report
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
