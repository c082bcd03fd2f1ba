"""``smartbert`` command line: its arguments and the dispatch to :mod:`smartbert.app.commands` (train, select,
data, download, trace, sweep, oracle, calibrate, predict, flops, latency, list)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any

from smartbert.core.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, Range
from smartbert.core.errors import EXIT_ON_USER_ERROR, SmartBertError, error_line
from smartbert.training.config import TrainConfig

#: TrainConfig fields the training commands override by flag (help, type, range and choices from the dataclass)
TRAIN_FLAGS = ("seed", "epochs", "batch_size", "learning_rate", "max_train_examples", "selection")
SELECT_FLAGS = ("seed", "max_train_examples", "heldout_fraction")
ANY_NUMBER = Range()  # finite; the exit policy checks its own domain


def number(parser: argparse.ArgumentParser, flag: str, kind: type, allowed: Range, **options: Any) -> argparse.Action:
    """A numeric flag with the range :func:`check_flags` holds it to."""
    action = parser.add_argument(flag, type=kind, **options)
    action.allowed = allowed  # type: ignore[attr-defined]
    return action


def config_flags(parser: argparse.ArgumentParser, cls: type, names: Sequence[str]) -> None:
    """``--name`` flags overriding fields of the config dataclass ``cls``: type, range, choices and
    help from the field (:func:`smartbert.core.config.setting`), so they never drift from the config."""
    hints = typing.get_type_hints(cls)
    fields = {item.name: item for item in dataclasses.fields(cls)}
    for name in names:
        item, hint = fields[name], hints[name]
        flag, help = "--" + name.replace("_", "-"), f"override train.{name}: {item.metadata.get('help', '')} (default {item.default})"
        choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None
        if choices:
            parser.add_argument(flag, choices=list(choices), default=None, help=help)
            continue
        kinds = [arg for arg in (typing.get_args(hint) or (hint,)) if arg in (int, float)]
        number(parser, flag, kinds[0], item.metadata.get("range", ANY_NUMBER), default=None, help=help)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--glue-dir", default=None,
                        help="folder of original GLUE TSVs (default: $GLUE_DIR; unset = Hugging Face hub)")
    parser.add_argument("--data-source", default="auto", choices=["auto", "tsv", "hub", "synthetic"],
                        help="auto: synthetic-* tasks are generated, GLUE tasks come from GLUE_DIR if set, else the hub")


def build_parser() -> argparse.ArgumentParser:
    from smartbert import __version__

    parser = argparse.ArgumentParser(prog="smartbert", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (for log files: the per-epoch and summary log lines stay)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="what is logged to stderr (default INFO: per epoch stage, loss, selection metric, seconds, examples/s)")
    number(parser, "--threads", int, AT_LEAST_ONE, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", default=None,
                        help="auto (CUDA when available; with several GPUs, one no other smartbert process holds), "
                             "cpu, cuda or cuda:N, for train, select, trace, predict and latency "
                             "(default: $SMARTBERT_DEVICE, else auto)")
    parser.add_argument("--deterministic", action="store_true", default=None,
                        help="deterministic algorithms (torch.use_deterministic_algorithms, cuBLAS workspace :4096:8): "
                             "same seed, same GPU, same weights; slower (default: $SMARTBERT_DETERMINISTIC)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a method on a task and save the model directory")
    train.add_argument("--task", required=True, help="GLUE task (RTE, SST-2, ...) or synthetic-sentiment / synthetic-nli")
    train.add_argument("--method", required=True, help="registered method (see `smartbert list`)")
    train.add_argument("--backbone", default="minilm-l6", help="minilm-l6 (bundled), tiny (random), a hub id or a local directory")
    train.add_argument("--config", action="append", default=[], help="YAML file (or an inline {...} mapping) with optional `train:` and `method:` mappings; "
                            "repeat to layer them (later ones win)")
    config_flags(train, TrainConfig, TRAIN_FLAGS)
    train.add_argument("--init-from", action="append", default=[], metavar="METHOD=DIR",
                       help="a trained model that a stage reuses (DeeBERT: --init-from bert=DIR)")
    train.add_argument("--out", required=True, help="model directory to write")
    train.add_argument("--no-resume", action="store_true",
                       help="start afresh even if a killed run of the same configuration left epoch checkpoints "
                            "(kept beside --out as .NAME.resume/ until the model is saved)")
    _add_data_options(train)

    select = commands.add_parser("select", help="choose a method's hyper-parameters per task on a held-out split of train (never dev)")
    select.add_argument("--task", required=True, help="task")
    select.add_argument("--method", default="smartbert", help="method (default smartbert)")
    select.add_argument("--backbone", default="minilm-l6", help="backbone")
    select.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="a method-config field and its values; repeat for more fields (e.g. --grid lam=0.01,0.05 --grid eta1=0.05,0.1)")
    select.add_argument("--config", action="append", default=[], help="YAML with `train:` and `method:` (the base of every grid point); repeatable")
    config_flags(select, TrainConfig, SELECT_FLAGS)
    number(select, "--tolerance", float, NON_NEGATIVE, default=1.0,
           help="metric points below the best that a cheaper point may score and still be chosen (default 1.0)")
    select.add_argument("--out", required=True, help="folder for selection.csv and selected.yaml")
    select.add_argument("--no-resume", action="store_true",
                        help="start afresh even if a killed run left grid points and epoch checkpoints "
                             "(kept beside --out as .NAME.resume/ until the selection is written)")
    select.add_argument("--point", type=int, metavar="I",
                        help="train only the grid's point number I (0-based, grid order) and write its row to --row "
                             "(one job per point; `smartbert choose` gathers the rows into --out)")
    select.add_argument("--row", help="with --point: the file for that point's row")
    _add_data_options(select)

    choose = commands.add_parser("choose", help="gather the rows of `smartbert select --point` into selection.csv and selected.yaml")
    choose.add_argument("--rows", nargs="+", required=True, metavar="ROW", help="every grid point's row file, in grid order")
    choose.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="the grid the rows were trained on, as for select")
    number(choose, "--tolerance", float, NON_NEGATIVE, default=1.0,
           help="metric points below the best that a cheaper point may score and still be chosen (default 1.0)")
    choose.add_argument("--out", required=True, help="folder for selection.csv and selected.yaml (its select checkpoints beside it are removed)")

    data = commands.add_parser("data", help="check a task's data and summarise it (sizes, labels, majority class) as JSON")
    data.add_argument("--task", required=True, help="task")
    data.add_argument("--out", default=None, help="JSON file to write (default: print only)")
    _add_data_options(data)

    download = commands.add_parser("download", help="put GLUE tasks and hub backbones into the Hugging Face cache "
                                   "(on a login node, before an offline run with HF_HUB_OFFLINE=1)")
    download.add_argument("--task", action="append", default=[], help="task to fetch; repeatable")
    download.add_argument("--backbone", action="append", default=[], help="backbone (hub id) to fetch; repeatable")
    download.add_argument("--out", default=None, help="JSON file listing what was fetched (default: print only)")
    _add_data_options(download)

    trace = commands.add_parser("trace", help="run a model once over a split and record its trace (.npz)")
    trace.add_argument("--model", required=True, help="model directory written by `smartbert train`")
    trace.add_argument("--task", default=None, help="task to evaluate on (default: the training task)")
    trace.add_argument("--split", default="dev", help="split to trace (default dev)")
    number(trace, "--batch-size", int, AT_LEAST_ONE, default=64, help="tracing batch size")
    trace.add_argument("--no-gates", action="store_true", help="ignore skipping gates: the exit-only path (every layer runs)")
    trace.add_argument("--out", required=True, help="trace file to write (.npz)")
    _add_data_options(trace)

    sweep = commands.add_parser("sweep", help="replay exit thresholds on a trace: metric and cost per threshold")
    sweep.add_argument("--trace", required=True, help="trace file written by `smartbert trace`")
    sweep.add_argument("--thresholds", default=None,
                       help="comma-separated S values (patience for `patience`); default: the policy's dense grid")
    sweep.add_argument("--policy", default=None, help="entropy, normalised_entropy, patience or none (default: the method's)")
    sweep.add_argument("--with-grid", action="store_true", help="add the policy's dense grid to --thresholds")
    number(sweep, "--seq-len", int, AT_LEAST_ONE, default=None, help="sequence length FLOPs are counted at (default: the model's max, 128)")
    sweep.add_argument("--reference-backbone", default=None,
                       help="cost %% is relative to this backbone's full depth (default: the model's own; "
                            "bert-base-uncased for a distilbert-base-uncased model)")
    sweep.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                       help="a constant column for every row (the workflow tags variant=...)")
    sweep.add_argument("--out", required=True, help="CSV to write")

    oracle = commands.add_parser("oracle", help="oracle exits of a trace, the method's policy against them, and every head's metrics")
    oracle.add_argument("--trace", required=True, help="trace file written by `smartbert trace`")
    number(oracle, "--threshold", float, ANY_NUMBER, default=None,
           help="threshold of the method's policy at which exits per head are counted (default: 0.3; patience 4)")
    oracle.add_argument("--reference-backbone", default=None, help="cost %% relative to this backbone's full depth (as sweep)")
    oracle.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a constant field (variant=..., seed=...)")
    oracle.add_argument("--out", required=True, help="JSON to write")

    calibrate = commands.add_parser("calibrate", help="exit thresholds with a guaranteed risk (Learn-then-Test, conformal "
                                                      "risk control) from a trace, checked on random calibration/test halves")
    calibrate.add_argument("--trace", required=True, help="trace file written by `smartbert trace` (the calibration split)")
    calibrate.add_argument("--epsilons", default="0.01,0.02",
                           help="risk levels, comma-separated (0.01: at most 1 point of disagreement with the full model)")
    number(calibrate, "--delta", float, FRACTION, default=0.1, help="error rate delta of the guarantee (default 0.1)")
    calibrate.add_argument("--procedures", default="ltt,crc,empirical", help="ltt, crc and/or empirical (no guarantee), comma-separated")
    calibrate.add_argument("--loss", default="disagreement", choices=["disagreement", "harm"],
                           help="disagreement: the exit's prediction differs from the full model's; harm: wrong where the full model is right")
    number(calibrate, "--trials", int, AT_LEAST_ONE, default=500, help="random calibration/test halves the guarantee is checked on")
    number(calibrate, "--seed", int, NON_NEGATIVE, default=0, help="seed of the random halves")
    calibrate.add_argument("--reference-backbone", default=None, help="cost %% relative to this backbone's full depth (as sweep)")
    calibrate.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a constant column (variant=...)")
    calibrate.add_argument("--out", required=True, help="CSV to write")

    predict = commands.add_parser("predict", help="per-example predictions, exit layers and FLOPs")
    predict.add_argument("--model", required=True, help="model directory")
    predict.add_argument("--task", default=None, help="task (default: the training task)")
    predict.add_argument("--split", default="dev", help="split (default dev)")
    number(predict, "--threshold", float, ANY_NUMBER, default=None, help="exit threshold S (ignored by static methods)")
    predict.add_argument("--policy", default=None, help="exit policy (default: the method's)")
    predict.add_argument("--mode", choices=["dynamic", "replay"], default="dynamic",
                         help="dynamic: batch-1 inference that stops at the exit; replay: from a trace")
    predict.add_argument("--out", required=True, help="CSV to write")
    _add_data_options(predict)

    flops = commands.add_parser("flops", help="FLOPs of each component of a backbone (both conventions)")
    flops.add_argument("--backbone", default="bert-base-uncased", help="backbone name (shapes of bert-base/distilbert known offline)")
    number(flops, "--seq-len", int, AT_LEAST_ONE, default=128, help="sequence length (paper: 128)")
    number(flops, "--num-labels", int, AT_LEAST_ONE, default=2, help="classifier outputs")
    flops.add_argument("--out", default=None, help="also write the table as CSV")

    latency = commands.add_parser("latency", help="batch-1 latency of several models at Table 1's thresholds, timed "
                                                  "together on the same dev examples (Table 1's latency column)")
    latency.add_argument("--task", required=True, help="dev set to time on")
    latency.add_argument("--models", nargs="+", required=True, help="trained model directories")
    latency.add_argument("--thresholds", action="append", default=[], metavar="POLICY=V1,V2",
                         help="Table 1 points of one exit policy (e.g. entropy=0.1,0.3,0.5, patience=3,4); repeatable; "
                              "a policy not named keeps its defaults")
    latency.add_argument("--calibrated", nargs="+", default=[], metavar="CSV",
                         help="instead of Table 1's points: each early-exit model at the thresholds `smartbert calibrate` "
                              "shipped in these CSVs (at --epsilons); static models once")
    latency.add_argument("--epsilons", default="0.01,0.02", help="with --calibrated: the risk levels whose thresholds are timed")
    number(latency, "--examples", int, AT_LEAST_ONE, default=100, help="dev examples timed (spread over the dev set)")
    number(latency, "--repeats", int, AT_LEAST_ONE, default=3, help="timed repeats (median) after one warm-up")
    latency.add_argument("--out", required=True, help="CSV to write")

    commands.add_parser("list", help="known tasks, methods, backbones and exit policies")
    return parser


def check_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every numeric flag given within the range it was declared with (:func:`number`), NaN and
    infinity refused, as a one-line error naming the flag, before any work."""
    for action in _actions(parser, args.command):
        allowed = getattr(action, "allowed", None)
        value = getattr(args, action.dest, None)
        if allowed is not None and value is not None and value not in allowed:
            raise SmartBertError(f"{action.option_strings[-1]} must be {allowed.describe()} (a finite number), got {value!r}")


def _actions(parser: argparse.ArgumentParser, command: str) -> list[argparse.Action]:
    """The options of ``parser`` and of its subcommand ``command``."""
    found = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            found += action.choices[command]._actions
    return found


DEVICE_COMMANDS = ("train", "select", "trace", "predict", "latency")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(getattr(logging, args.log_level))  # also where a host (pytest) configured logging first
    try:
        check_flags(parser, args)  # before any work, --threads included
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        args.torch_device = None
        if args.command in DEVICE_COMMANDS:
            from smartbert.modeling.device import make_deterministic, resolve_device

            make_deterministic(args.deterministic)  # before CUDA starts (cuBLAS reads its workspace setting then)
            args.torch_device = resolve_device(args.device)
        importlib.import_module(f"smartbert.app.commands.{args.command}").run(args)
    except SmartBertError as error:
        print(error_line(args.command, error), file=sys.stderr)
        return EXIT_ON_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
