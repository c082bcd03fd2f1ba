"""BERT train -> trace -> sweep -> predict through the CLI on the tiny backbone, save/load round
trip, and the CLI's errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from smartbert.app.cli import main
from smartbert.core.errors import CheckpointError
from smartbert.data.encode import collate
from smartbert.methods.checkpoint import load_model, save_model
from smartbert.methods.registry import get_method
from smartbert.modeling.flops import trace_costs
from smartbert.replay.policies import EntropyExit
from smartbert.replay.trace import Trace
from tests.helpers import tiny_bert

pytestmark = pytest.mark.cli  # the CLI in this process: on the CPU (tests/conftest.py)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("e2e")
    model_dir = root / "model"
    code = main(["-q", "--device", "cpu", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny",
                 "--epochs", "2", "--learning-rate", "1e-3", "--max-train-examples", "1600", "--out", str(model_dir)])
    assert code == 0
    return {"root": root, "model": model_dir}


def test_training_learns_the_synthetic_task(trained) -> None:
    meta = json.loads((trained["model"] / "smartbert.json").read_text())
    assert meta["sizes"]["train"] == 1600
    assert meta["dev_metrics_no_exit"]["accuracy"] > meta["dev_majority_class"]["accuracy"] + 20
    assert [e["epoch"] for e in meta["stages"][0]["epochs"]] == [1, 2]
    provenance = json.loads((trained["model"] / "provenance.json").read_text())
    assert {"commit", "versions", "device", "seed", "config_hash"} <= set(provenance)


def test_trace_sweep_predict(trained, capsys) -> None:
    root = trained["root"]
    assert main(["-q", "trace", "--model", str(trained["model"]), "--out", str(root / "trace.npz")]) == 0
    assert main(["-q", "sweep", "--trace", str(root / "trace.npz"), "--thresholds", "0.1,0.3,0.5",
                 "--out", str(root / "sweep.csv")]) == 0
    sweep = pd.read_csv(root / "sweep.csv")
    assert sweep["threshold"].tolist() == [0.0]  # a static method (policy none) has one row, whatever S
    for column in ("metric", "avg_flops_paper_M", "cost_pct_paper", "cost_pct_fvcore", "avg_layers_run", "avg_layers_skipped"):
        assert column in sweep
    assert sweep["cost_pct_paper"].tolist() == pytest.approx([100.0])
    assert (sweep["avg_layers_run"] == 4).all()
    meta = json.loads((trained["model"] / "smartbert.json").read_text())
    assert sweep["metric"].iloc[0] == pytest.approx(meta["dev_metrics_no_exit"]["metric"])
    # `predict` in both modes: test_predict_dynamic_equals_replay_where_exits_differ (static BERT has one head)


def test_save_load_round_trip_gives_identical_logits(tmp_path, sentiment_dev, tokenizer) -> None:
    method = get_method("bert")
    config = method.config_class()
    bert = tiny_bert(3)
    model = method.build(bert, 2, config).eval()
    save_model(tmp_path / "m", model, method, config, "tiny", bert.config, tokenizer,
               {"task": "synthetic-sentiment", "labels": ["negative", "positive"], "train_config": {"max_seq_len": 128, "seed": 0}}, {})
    loaded = load_model(tmp_path / "m")
    batch = collate(sentiment_dev, list(range(16)))
    args = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.forward_all_exits(*args)[4], model.forward_all_exits(*args)[4], rtol=0, atol=0)
    assert loaded.tokenizer("a b")["input_ids"] == tokenizer("a b")["input_ids"]
    with pytest.raises(CheckpointError, match="holds a 'bert' model, not 'deebert'"):
        load_model(tmp_path / "m", expect_method="deebert")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary directory left behind"


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "RTX", "--method", "bert", "--out", "x"], "unknown task 'RTX'"),
    (["train", "--task", "RTE", "--method", "smartbrt", "--out", "x"], "unknown method 'smartbrt'"),
    (["trace", "--model", "/nonexistent/model", "--out", "t.npz"], "is not a trained model directory"),
    (["sweep", "--trace", "/nonexistent.npz", "--out", "s.csv"], "trace /nonexistent.npz not found"),
    (["train", "--task", "RTE", "--method", "bert", "--backbone", "tiny", "--out", "x"], "GLUE_DIR"),
    (["train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--config",
      '{"train": {"learning_rate": "fast"}}', "--out", "x"], "learning_rate must be float, got 'fast'"),
    (["train", "--task", "synthetic-sentiment", "--method", "smartbert", "--backbone", "tiny", "--config",
      '{"method": {"gate_mode": "sometimes"}}', "--out", "x"], "gate_mode must be one of ['sp', 'soft', 'hard']"),
    (["train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--config",
      '{"train": {"epochs": 3', "--out", "x"], "inline config is not valid JSON"),
    (["train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--config",
      '{"train": {"precision": "fp8"}}', "--out", "x"], "precision must be one of ['fp32', 'tf32', 'bf16', 'fp16']"),
    (["latency", "--task", "synthetic-sentiment", "--models", "no/such/model", "--out", "x"], "model directory no/such/model not found"),
    (["calibrate", "--trace", "/nonexistent.npz", "--out", "x"], "trace /nonexistent.npz not found"),
    (["calibrate", "--trace", "/nonexistent.npz", "--epsilons", "0", "--out", "x"], "epsilon must lie in (0, 1)"),
    (["calibrate", "--trace", "/nonexistent.npz", "--delta", "1", "--out", "x"], "--delta must be in (0, 1)"),
    (["calibrate", "--trace", "/nonexistent.npz", "--procedures", "ltt,conformal", "--out", "x"], "conformal"),
])
def test_cli_errors_name_the_problem(argv, message, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["-q", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("thresholds, message", [("-0.5", "-0.5"), ("0.1,abc", "comma-separated numbers")])
def test_sweep_threshold_out_of_range_is_named(trained, thresholds, message, capsys) -> None:
    root = trained["root"]
    main(["-q", "trace", "--model", str(trained["model"]), "--out", str(root / "t.npz")])
    capsys.readouterr()
    assert main(["-q", "sweep", "--trace", str(root / "t.npz"), "--policy", "entropy", "--thresholds", thresholds,
                 "--out", str(root / "bad.csv")]) == 2
    assert message in capsys.readouterr().err
    assert not (root / "bad.csv").exists()


def test_reusing_a_model_of_another_method_is_refused_before_training(trained, capsys, tmp_path) -> None:
    assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "deebert", "--backbone", "tiny",
                 "--init-from", f"bert={tmp_path}", "--out", str(tmp_path / "d")]) == 2
    assert "is not a trained model directory" in capsys.readouterr().err
    wrong = trained["model"]  # a bert model: fine for deebert; a fastbert claiming to be bert is not
    meta = json.loads((wrong / "smartbert.json").read_text())
    fake = tmp_path / "fake"
    shutil.copytree(wrong, fake)
    (fake / "smartbert.json").write_text(json.dumps(dict(meta, method="fastbert")))
    assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "deebert", "--backbone", "tiny",
                 "--init-from", f"bert={fake}", "--out", str(tmp_path / "d")]) == 2
    assert "fastbert" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_config_file_unknown_key_is_named(tmp_path, capsys) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  learning_rat: 0.1\n")
    assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny",
                 "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "m")]) == 2
    assert "unknown key(s) ['learning_rat']" in capsys.readouterr().err


def test_flops_command_prints_paper_numbers(capsys) -> None:
    assert main(["flops", "--backbone", "bert-base-uncased", "--seq-len", "128"]) == 0
    out = capsys.readouterr().out
    assert "1,811.9" in out and "21,744.5" in out


def test_deebert_reuses_the_trained_bert_and_trains_only_offramps(trained, capsys) -> None:
    from safetensors.torch import load_file

    out = trained["root"] / "deebert"
    base = ["-q", "train", "--task", "synthetic-sentiment", "--method", "deebert", "--backbone", "tiny",
            "--epochs", "1", "--learning-rate", "1e-3", "--max-train-examples", "320", "--out", str(out)]
    assert main(base) == 2
    assert "pass --init-from bert=DIR" in capsys.readouterr().err
    assert main([*base, "--init-from", f"bert={out}"]) == 2  # not a model directory yet
    assert main([*base, "--init-from", f"bert={trained['model']}"]) == 0
    bert, dee = load_file(str(trained["model"] / "model.safetensors")), load_file(str(out / "model.safetensors"))
    for key, value in bert.items():  # stage 1 is BERT's model, untouched by stage 2
        assert torch.equal(dee[key], value), key
    meta = json.loads((out / "smartbert.json").read_text())
    assert meta["stages"][0]["reused_from"] == str(trained["model"])
    assert set(meta["dev_exit_head_metrics"]) == {"1", "2", "3", "4"}


def test_distilbert_student_is_half_depth_and_costs_half(trained, capsys) -> None:
    root = trained["root"]
    base = ["-q", "train", "--task", "synthetic-sentiment", "--method", "distilbert", "--backbone", "tiny",
            "--epochs", "1", "--learning-rate", "1e-3", "--max-train-examples", "320", "--out", str(root / "distil")]
    assert main(base) == 2
    assert "distils from the trained 'bert' model" in capsys.readouterr().err
    assert main([*base, "--init-from", f"bert={trained['model']}"]) == 0
    loaded = load_model(root / "distil")
    assert loaded.model.num_layers == 2
    assert main(["-q", "trace", "--model", str(root / "distil"), "--out", str(root / "distil.npz")]) == 0
    assert main(["-q", "sweep", "--trace", str(root / "distil.npz"), "--out", str(root / "distil.csv")]) == 0
    sweep = pd.read_csv(root / "distil.csv")
    # 2 of 4 layers; embeddings and the classifier are a sliver of the tiny model's cost
    assert sweep["cost_pct_paper"].iloc[0] == pytest.approx(50.0, abs=1.0)
    assert (sweep["avg_layers_run"] == 2).all()


def test_sweep_defaults_to_the_policy_grid(trained) -> None:
    from smartbert.replay.policies import EntropyExit
    from smartbert.replay.sweep import sweep
    from smartbert.replay.trace import Trace

    root = trained["root"]
    if not (root / "trace.npz").exists():
        assert main(["-q", "trace", "--model", str(trained["model"]), "--out", str(root / "trace.npz")]) == 0
    trace = Trace.load(root / "trace.npz")
    table = sweep(trace, trace_costs(trace.meta), policy="entropy")
    assert table["threshold"].tolist() == list(EntropyExit.grid)


def test_latency_times_every_model_at_its_table_points_and_predicts_as_the_sweep(trained, capsys) -> None:
    """`smartbert latency`: BERT once (speedup 1), an early-exit model at each S; the timed dynamic
    predictions on the whole dev set score exactly what replay of the trace scores at the same S."""
    root = trained["root"]
    if not (root / "deebert").exists():
        assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "deebert", "--backbone", "tiny", "--epochs", "1",
                     "--learning-rate", "1e-3", "--max-train-examples", "320", "--init-from", f"bert={trained['model']}",
                     "--out", str(root / "deebert")]) == 0
    assert main(["-q", "latency", "--task", "synthetic-sentiment", "--models", str(trained["model"]), str(root / "deebert"),
                 "--thresholds", "entropy=0.1,0.5", "--examples", "100000", "--repeats", "1", "--out", str(root / "latency.csv")]) == 0
    latency = pd.read_csv(root / "latency.csv")
    assert list(zip(latency["method"], latency["threshold"])) == [("bert", 0.0), ("deebert", 0.1), ("deebert", 0.5)]
    assert (latency["ms_per_example"] > 0).all()
    # both speedups over the BERT row (the CSV keeps 4 decimals)
    assert latency["flops_speedup"].tolist() == pytest.approx((latency["cost_pct"].iloc[0] / latency["cost_pct"]).tolist(), abs=1e-3)
    assert main(["-q", "trace", "--model", str(root / "deebert"), "--out", str(root / "deebert.npz")]) == 0
    assert main(["-q", "sweep", "--trace", str(root / "deebert.npz"), "--thresholds", "0.1,0.5", "--out", str(root / "dee.csv")]) == 0
    sweep = pd.read_csv(root / "dee.csv")
    dee = latency[latency["method"] == "deebert"]
    assert dee["metric"].tolist() == pytest.approx(sweep["metric"].tolist())
    assert dee["cost_pct"].tolist() == pytest.approx(sweep["cost_pct_paper"].tolist())


def deebert_dir(trained) -> Path:
    """A DeeBERT model on the trained BERT (trained once per module, as the latency test does)."""
    root = trained["root"]
    if not (root / "deebert").exists():
        assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "deebert", "--backbone", "tiny", "--epochs", "1",
                     "--learning-rate", "1e-3", "--max-train-examples", "320", "--init-from", f"bert={trained['model']}",
                     "--out", str(root / "deebert")]) == 0
    return root / "deebert"


def test_predict_dynamic_equals_replay_where_exits_differ(trained, tmp_path) -> None:
    """`predict --mode dynamic` and `--mode replay` agree row for row on an early-exit model, at an S
    taken from its own trace between two first-head entropies near their median, so that some rows
    exit at the first head and others go on (asserted: the comparison is not between full-depth runs)."""
    from smartbert.replay.policies import softmax_entropy

    model = deebert_dir(trained)
    assert main(["-q", "trace", "--model", str(model), "--out", str(tmp_path / "t.npz")]) == 0
    first = np.unique(softmax_entropy(Trace.load(tmp_path / "t.npz").logits[:, 0]))
    middle = len(first) // 2
    threshold = float((first[middle - 1] + first[middle]) / 2)
    for mode in ("dynamic", "replay"):
        assert main(["-q", "predict", "--model", str(model), "--mode", mode, "--threshold", repr(threshold),
                     "--out", str(tmp_path / f"{mode}.csv")]) == 0
    dynamic, replayed = pd.read_csv(tmp_path / "dynamic.csv"), pd.read_csv(tmp_path / "replay.csv")
    assert (dynamic["exit_layer"] == 1).any() and (dynamic["exit_layer"] > 1).any(), dynamic["exit_layer"].value_counts()
    pd.testing.assert_frame_equal(dynamic, replayed)
    assert list(dynamic.columns) == ["index", "label", "prediction", "exit_layer", "layers_run", "heads", "gates", "flops_paper"]


def test_sweep_with_grid_and_reference_backbone(trained, tmp_path) -> None:
    """`sweep --with-grid` adds the policy's grid to the given thresholds; `--reference-backbone`
    makes cost % relative to that backbone's depth (the paper profile's DistilBERT against BERT-base):
    a full 4-layer forward against a 12-layer one, by hand from the component costs."""
    trace_file = tmp_path / "t.npz"
    assert main(["-q", "trace", "--model", str(trained["model"]), "--out", str(trace_file)]) == 0
    assert main(["-q", "sweep", "--trace", str(trace_file), "--policy", "entropy", "--thresholds", "0.33", "--with-grid",
                 "--out", str(tmp_path / "grid.csv")]) == 0
    assert pd.read_csv(tmp_path / "grid.csv")["threshold"].tolist() == sorted({0.33, *EntropyExit.grid})
    assert main(["-q", "sweep", "--trace", str(trace_file), "--out", str(tmp_path / "own.csv")]) == 0
    assert main(["-q", "sweep", "--trace", str(trace_file), "--reference-backbone", "bert-base-uncased",
                 "--out", str(tmp_path / "ref.csv")]) == 0
    trace = Trace.load(trace_file)
    c = trace_costs(trace.meta).paper
    full = lambda layers: c["embeddings"] + layers * c["layer"] + c["pooled_classifier"]  # noqa: E731
    assert trace.num_layers == 4 and trace.meta.head_kind == "pooled_classifier"
    assert pd.read_csv(tmp_path / "own.csv")["cost_pct_paper"].tolist() == pytest.approx([100.0])
    assert pd.read_csv(tmp_path / "ref.csv")["cost_pct_paper"].tolist() == pytest.approx([100.0 * full(4) / full(12)], abs=1e-3)


def test_trace_split_records_that_split(trained, tmp_path) -> None:
    """`trace --split train` traces the training split (its labels, in order), and says so in its meta."""
    from smartbert.data.load import load_split

    assert main(["-q", "trace", "--model", str(trained["model"]), "--split", "train", "--out", str(tmp_path / "t.npz")]) == 0
    trace = Trace.load(tmp_path / "t.npz")
    assert trace.meta.split == "train"
    assert trace.labels.tolist() == [e.label for e in load_split("synthetic-sentiment", "train")]


def test_deterministic_flag_turns_deterministic_algorithms_on(trained, tmp_path, monkeypatch) -> None:
    """`--deterministic` (or $SMARTBERT_DETERMINISTIC) turns on torch's deterministic algorithms and
    cuBLAS's fixed workspace before the command runs; without either they stay off."""
    from smartbert.modeling.device import CUBLAS_WORKSPACE, DETERMINISTIC_ENV

    monkeypatch.delenv(DETERMINISTIC_ENV, raising=False)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    try:
        assert main(["-q", "trace", "--model", str(trained["model"]), "--out", str(tmp_path / "a.npz")]) == 0
        assert not torch.are_deterministic_algorithms_enabled() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert main(["-q", "--deterministic", "trace", "--model", str(trained["model"]), "--out", str(tmp_path / "b.npz")]) == 0
        assert torch.are_deterministic_algorithms_enabled() and os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    finally:
        torch.use_deterministic_algorithms(before)
    np.testing.assert_array_equal(Trace.load(tmp_path / "a.npz").logits, Trace.load(tmp_path / "b.npz").logits)


def test_trace_no_gates_records_the_exit_only_path(tmp_path, tokenizer) -> None:
    """`trace --no-gates` on a gated SmartBERT: every layer runs and every head is evaluated, and the
    trace says gates were not used; the same model traced with its gates skips layers."""
    method = get_method("smartbert")
    config = method.config_class(gate_init_skip=0.9)  # gates that start by skipping most layers
    bert = tiny_bert(4)
    torch.manual_seed(4)
    model = method.build(bert, 2, config).eval()
    save_model(tmp_path / "m", model, method, config, "tiny", bert.config, tokenizer,
               {"task": "synthetic-sentiment", "labels": ["negative", "positive"], "train_config": {"max_seq_len": 128, "seed": 0}}, {})
    assert main(["-q", "--device", "cpu", "trace", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "gated.npz")]) == 0
    assert main(["-q", "--device", "cpu", "trace", "--model", str(tmp_path / "m"), "--no-gates",
                 "--out", str(tmp_path / "exits.npz")]) == 0
    gated, exits = Trace.load(tmp_path / "gated.npz"), Trace.load(tmp_path / "exits.npz")
    assert gated.has_gates and gated.meta.gates_used and not gated.ran.all()
    assert not exits.has_gates and not exits.meta.gates_used
    assert exits.ran.all() and exits.evaluated.all()


def test_calibrate_ships_a_threshold_per_procedure_and_the_latency_job_times_it(trained, tmp_path, capsys) -> None:
    """`smartbert calibrate` on an early-exit trace: one row per procedure and eps, each shipped threshold
    on the policy's grid with the cost its replay gives; `smartbert latency --calibrated` then times
    exactly those thresholds (BERT once beside them)."""
    from smartbert.core.formats import CALIBRATION
    from smartbert.modeling.flops import trace_costs
    from smartbert.replay.policies import EntropyExit
    from smartbert.replay.sweep import sweep

    model = deebert_dir(trained)
    assert main(["-q", "trace", "--model", str(model), "--out", str(tmp_path / "t.npz")]) == 0
    assert main(["-q", "calibrate", "--trace", str(tmp_path / "t.npz"), "--epsilons", "0.05,0.2", "--trials", "50",
                 "--tag", "variant=default", "--out", str(tmp_path / "cal.csv")]) == 0
    table = CALIBRATION.read_csv(tmp_path / "cal.csv")
    assert list(zip(table["procedure"], table["epsilon"])) == [(p, e) for p in ("ltt", "crc", "empirical") for e in (0.05, 0.2)]
    assert set(table["threshold"]) <= set(EntropyExit.grid) and (table["variant"] == "default").all()
    trace = Trace.load(tmp_path / "t.npz")
    replayed = sweep(trace, trace_costs(trace.meta), list(table["threshold"]), "entropy").set_index("threshold")
    assert table["cost_pct"].tolist() == pytest.approx(replayed.loc[table["threshold"], "cost_pct_paper"].tolist(), abs=1e-3)
    empirical = table[table["procedure"] == "empirical"]
    assert (empirical["risk"] <= empirical["epsilon"] + 1e-9).all()
    assert main(["-q", "latency", "--task", "synthetic-sentiment", "--models", str(trained["model"]), str(model),
                 "--calibrated", str(tmp_path / "cal.csv"), "--epsilons", "0.05", "--examples", "20", "--repeats", "1",
                 "--out", str(tmp_path / "latency.csv")]) == 0
    latency = pd.read_csv(tmp_path / "latency.csv")
    shipped = sorted(set(table.loc[table["epsilon"] == 0.05, "threshold"]))
    assert list(zip(latency["method"], latency["threshold"])) == [("bert", 0.0)] + [("deebert", t) for t in shipped]
