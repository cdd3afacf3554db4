"""``python -m mambarec``: train, evaluate, build data, precompute.

Every ModelConfig and TrainConfig field is a flag (``lambda_mmd`` -> ``--lambda-mmd``) whose help
is the field's documented meaning, paper symbol included; ``--variant`` picks the preset the
other flags override.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from dataclasses import fields
from pathlib import Path

from mambarec import config as config_module
from mambarec.config import MODELS, VARIANTS, ConfigError, ModelConfig, RunConfig, TrainConfig, coerce_field


def field_help(cls: type) -> dict[str, str]:
    """The comment after each field of ``cls`` in config.py: its meaning and paper symbol."""
    source = inspect.getsource(cls)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#\s*(.+)$", source, re.M)}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model switches (defaults come from --variant)")
    helps = field_help(ModelConfig)
    for f in fields(ModelConfig):
        if f.name == "variant":
            continue
        model.add_argument(flag(f.name), dest=f"model.{f.name}", default=None, metavar=_metavar(f),
                           help=f"{helps.get(f.name, '')} [paper default: {f.default!r}]")
    train = parser.add_argument_group("training")
    helps = field_help(TrainConfig)
    for f in fields(TrainConfig):
        train.add_argument(flag(f.name), dest=f"train.{f.name}", default=None, metavar=_metavar(f),
                           help=f"{helps.get(f.name, '')} [default: {f.default!r}]")


def _metavar(f) -> str:
    t = str(f.type)
    return {"bool": "{true,false}", "int": "N", "float": "X"}.get(t, "A,B,C" if t.startswith("tuple") else "S")


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    model_over, train_over = {}, {}
    for key, value in vars(args).items():
        if value is None or "." not in key:
            continue
        group, name = key.split(".", 1)
        target = model_over if group == "model" else train_over
        target[name] = coerce_field(ModelConfig if group == "model" else TrainConfig, name, value)
    model = config_module.make_model_config(args.variant, **model_over)
    return RunConfig(dataset=args.dataset, model_name=args.model, model=model, train=TrainConfig(**train_over))


def _progress_printer(total_epochs: int):
    from tqdm import tqdm

    bar = tqdm(total=total_epochs, unit="epoch", dynamic_ncols=True)

    def on_event(e) -> None:
        bar.update(e.epoch - bar.n)
        loss = e.losses.get("total", float("nan"))
        bar.set_postfix(loss=f"{loss:.4f}", valid_R20=f"{e.valid.get('Recall@20', float('nan')):.4f}",
                        best=e.best_epoch)

    return bar, on_event


def cmd_train(args: argparse.Namespace) -> int:
    from mambarec.data import load_dataset
    from mambarec.runs import save_run
    from mambarec.train import Trainer

    run = run_config_from_args(args)
    dataset = load_dataset(run.dataset, data_dir=args.data_dir)
    trainer = Trainer(run, dataset)
    if args.resume:
        from mambarec.checkpoint import load_checkpoint

        ckpt = load_checkpoint(args.resume, expect_fingerprint=dataset.fingerprint())
        if ckpt["resume"] is None:
            raise SystemExit(f"error: {args.resume} holds no resume state (saved without optimizer state)")
        trainer = Trainer(ckpt["run"], dataset)
        trainer.load_resume_state(ckpt["resume"])
        run = ckpt["run"]
    bar, on_event = _progress_printer(run.train.epochs)
    try:
        result = trainer.fit(on_event=on_event)
    except KeyboardInterrupt:
        print("\ninterrupted: keeping the best state so far", file=sys.stderr)
        result = trainer.fit(should_stop=lambda: True)
    finally:
        bar.close()
    out = save_run(Path(args.out), trainer, result)
    summary = {k: round(v, 4) for k, v in result.test.items() if k.endswith("@10") or k.endswith("@20")}
    print(json.dumps({"out": str(out), "best_epoch": result.best_epoch, "test": summary,
                      "s_per_epoch": round(result.s_per_epoch, 3), "n_params": result.n_params}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mambarec.checkpoint import load_checkpoint, restore_trainer
    from mambarec.data import load_dataset

    ckpt = load_checkpoint(args.checkpoint)
    dataset = load_dataset(args.dataset or ckpt["run"].dataset, data_dir=args.data_dir)
    trainer = restore_trainer(ckpt, dataset)
    metrics = trainer.evaluate()
    out = {f"{split}/{k}": v for split, m in metrics.items() for k, v in m.items()}
    print(json.dumps(out, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mambarec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,data,precompute,readme}")
    sub.required = True
    tr = sub.add_parser("train", help="train one run and write config.json, metrics.json and the checkpoint")
    tr.add_argument("--dataset", default="synthetic", help="synthetic, a name in the data dir, or a folder")
    tr.add_argument("--data-dir", default=None, help="folder holding named datasets (default $MAMBAREC_DATA)")
    tr.add_argument("--out", required=True, help="run folder to write")
    tr.add_argument("--model", default="mambarec", choices=MODELS, help="which model (baselines included)")
    tr.add_argument("--variant", default="paper", choices=VARIANTS,
                    help="preset: paper (as described), official (as released), mgcn (MMRec's MGCN)")
    tr.add_argument("--resume", default=None, help="continue from this checkpoint's saved optimizer state")
    add_config_flags(tr)
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="re-evaluate a checkpoint on its dataset")
    ev.add_argument("checkpoint", help="checkpoint.pt (or a run folder)")
    ev.add_argument("--dataset", default=None, help="dataset (default: the one in the checkpoint)")
    ev.add_argument("--data-dir", default=None)
    ev.set_defaults(func=cmd_evaluate)
    from mambarec.data.cli import add_data_commands

    add_data_commands(sub)
    from mambarec.precompute import add_precompute_command
    from mambarec.readme import add_readme_command

    add_precompute_command(sub)
    add_readme_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "evaluate" and Path(args.checkpoint).is_dir():
        from mambarec.checkpoint import CHECKPOINT_NAME

        args.checkpoint = str(Path(args.checkpoint) / CHECKPOINT_NAME)
    from mambarec.checkpoint import CheckpointError
    from mambarec.data import DatasetError

    try:
        return int(args.func(args) or 0)
    except (ConfigError, DatasetError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
