"""``smartbert`` command line: its arguments and the dispatch to :mod:`smartbert.app.commands` (train, select,
data, download, trace, sweep, oracle, predict, flops, latency, list)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from smartbert.core.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE
from smartbert.core.errors import EXIT_ON_USER_ERROR, SmartBertError, error_line


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
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
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
    train.add_argument("--seed", type=int, default=None, help="random seed (default 42, or the config's)")
    train.add_argument("--config", action="append", default=[], help="YAML file (or an inline {...} mapping) with optional `train:` and `method:` mappings; "
                            "repeat to layer them (later ones win)")
    train.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    train.add_argument("--batch-size", type=int, default=None, help="override train.batch_size")
    train.add_argument("--learning-rate", type=float, default=None, help="override train.learning_rate")
    train.add_argument("--max-train-examples", type=int, default=None, help="subsample train to this many (by seed)")
    train.add_argument("--selection", choices=["dev", "heldout"], default=None,
                       help="choose the best epoch on dev (paper) or on a held-out split of train")
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
    select.add_argument("--seed", type=int, default=None, help="random seed")
    select.add_argument("--max-train-examples", type=int, default=None, help="subsample train first")
    select.add_argument("--heldout-fraction", type=float, default=None, help="share of train held out for selection (default 0.1)")
    select.add_argument("--tolerance", type=float, default=1.0,
                        help="metric points below the best that a cheaper point may score and still be chosen (default 1.0)")
    select.add_argument("--out", required=True, help="folder for selection.csv and selected.yaml")
    select.add_argument("--no-resume", action="store_true",
                        help="start afresh even if a killed run left grid points and epoch checkpoints "
                             "(kept beside --out as .NAME.resume/ until the selection is written)")
    _add_data_options(select)

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
    trace.add_argument("--batch-size", type=int, default=64, help="tracing batch size")
    trace.add_argument("--no-gates", action="store_true", help="ignore skipping gates: the exit-only path (every layer runs)")
    trace.add_argument("--out", required=True, help="trace file to write (.npz)")
    _add_data_options(trace)

    sweep = commands.add_parser("sweep", help="replay exit thresholds on a trace: metric and cost per threshold")
    sweep.add_argument("--trace", required=True, help="trace file written by `smartbert trace`")
    sweep.add_argument("--thresholds", default=None,
                       help="comma-separated S values (patience for `patience`); default: the policy's dense grid")
    sweep.add_argument("--policy", default=None, help="entropy, normalised_entropy, patience or none (default: the method's)")
    sweep.add_argument("--with-grid", action="store_true", help="add the policy's dense grid to --thresholds")
    sweep.add_argument("--seq-len", type=int, default=None, help="sequence length FLOPs are counted at (default: the model's max, 128)")
    sweep.add_argument("--reference-backbone", default=None,
                       help="cost %% is relative to this backbone's full depth (default: the model's own; "
                            "bert-base-uncased for a distilbert-base-uncased model)")
    sweep.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                       help="a constant column for every row (the workflow tags variant=...)")
    sweep.add_argument("--out", required=True, help="CSV to write")

    oracle = commands.add_parser("oracle", help="oracle exits of a trace, the method's policy against them, and every head's metrics")
    oracle.add_argument("--trace", required=True, help="trace file written by `smartbert trace`")
    oracle.add_argument("--threshold", type=float, default=None,
                        help="threshold of the method's policy at which exits per head are counted (default: 0.3; patience 4)")
    oracle.add_argument("--reference-backbone", default=None, help="cost %% relative to this backbone's full depth (as sweep)")
    oracle.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a constant field (variant=..., seed=...)")
    oracle.add_argument("--out", required=True, help="JSON to write")

    predict = commands.add_parser("predict", help="per-example predictions, exit layers and FLOPs")
    predict.add_argument("--model", required=True, help="model directory")
    predict.add_argument("--task", default=None, help="task (default: the training task)")
    predict.add_argument("--split", default="dev", help="split (default dev)")
    predict.add_argument("--threshold", type=float, default=None, help="exit threshold S (ignored by static methods)")
    predict.add_argument("--policy", default=None, help="exit policy (default: the method's)")
    predict.add_argument("--mode", choices=["dynamic", "replay"], default="dynamic",
                         help="dynamic: batch-1 inference that stops at the exit; replay: from a trace")
    predict.add_argument("--out", required=True, help="CSV to write")
    _add_data_options(predict)

    flops = commands.add_parser("flops", help="FLOPs of each component of a backbone (both conventions)")
    flops.add_argument("--backbone", default="bert-base-uncased", help="backbone name (shapes of bert-base/distilbert known offline)")
    flops.add_argument("--seq-len", type=int, default=128, help="sequence length (paper: 128)")
    flops.add_argument("--num-labels", type=int, default=2, help="classifier outputs")
    flops.add_argument("--out", default=None, help="also write the table as CSV")

    latency = commands.add_parser("latency", help="batch-1 latency of several models at Table 1's thresholds, timed "
                                                  "together on the same dev examples (Table 1's latency column)")
    latency.add_argument("--task", required=True, help="dev set to time on")
    latency.add_argument("--models", nargs="+", required=True, help="trained model directories")
    latency.add_argument("--thresholds", action="append", default=[], metavar="POLICY=V1,V2",
                         help="Table 1 points of one exit policy (e.g. entropy=0.1,0.3,0.5, patience=3,4); repeatable; "
                              "a policy not named keeps its defaults")
    latency.add_argument("--examples", type=int, default=100, help="dev examples timed (spread over the dev set)")
    latency.add_argument("--repeats", type=int, default=3, help="timed repeats (median) after one warm-up")
    latency.add_argument("--out", required=True, help="CSV to write")

    commands.add_parser("list", help="known tasks, methods, backbones and exit policies")
    return parser


#: numeric flags and the values they may take (checked before any work; the config fields they
#: override are checked again by their dataclass)
FLAG_RANGES = {"threads": AT_LEAST_ONE, "seed": NON_NEGATIVE, "epochs": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE,
               "learning_rate": POSITIVE, "max_train_examples": AT_LEAST_ONE, "heldout_fraction": FRACTION,
               "tolerance": NON_NEGATIVE, "seq_len": AT_LEAST_ONE, "num_labels": AT_LEAST_ONE,
               "examples": AT_LEAST_ONE, "repeats": AT_LEAST_ONE}


def check_flags(args: argparse.Namespace) -> None:
    """Every numeric flag given within :data:`FLAG_RANGES`, as a one-line error naming the flag."""
    for name, allowed in FLAG_RANGES.items():
        value = getattr(args, name, None)
        if value is not None and value not in allowed:
            raise SmartBertError(f"--{name.replace('_', '-')} must be {allowed.describe()}, got {value!r}")


DEVICE_COMMANDS = ("train", "select", "trace", "predict", "latency")
COMMANDS = ("train", "select", "data", "download", "trace", "sweep", "oracle", "predict", "flops", "latency", "list")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(getattr(logging, args.log_level))  # also where a host (pytest) configured logging first
    try:
        check_flags(args)  # before any work, --threads included
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
