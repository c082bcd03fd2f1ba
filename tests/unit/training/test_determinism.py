"""Same seed on the same machine: bit-identical traces and identical sweep tables; another seed differs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartbert.data.prepare import DataOptions
from smartbert.inference.tracing import trace_model
from smartbert.methods.registry import get_method
from smartbert.modeling.flops import trace_costs
from smartbert.replay.sweep import sweep
from smartbert.training.config import TrainConfig
from smartbert.training.pipeline import train_method


def trained_trace(tmp_path, name: str, seed: int, method: str = "smartbert", device: str = "cpu"):
    config = TrainConfig(batch_size=16, epochs=1, learning_rate=1e-3, max_seq_len=32, max_train_examples=160, seed=seed)
    method_config = get_method(method).config_class(**({"stage1_epochs": 1, "stage2_epochs": 1, "soft_epochs": 0}
                                                        if method == "smartbert" else {}))
    out = tmp_path / name
    train_method("synthetic-nli", method, "tiny", out, config, method_config, DataOptions("synthetic"), progress=False,
                 device=device)
    return trace_model(out, progress=False, device=device)


def test_same_seed_bit_identical_traces_and_tables_other_seed_differs(tmp_path, device, deterministic):
    """Under deterministic algorithms (the ``deterministic`` fixture sets them up and tears them down;
    on a GPU, cuBLAS's fixed workspace from the start)."""
    first, again, other = (trained_trace(tmp_path, name, seed, device=device) for name, seed in (("a", 7), ("b", 7), ("c", 8)))
    for field in ("labels", "ran", "evaluated", "logits", "gate_prob", "lengths"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field), err_msg=field)
    table_a, table_b = sweep(first, trace_costs(first.meta), [0.1, 0.3, 0.5]), sweep(again, trace_costs(again.meta), [0.1, 0.3, 0.5])
    pd.testing.assert_frame_equal(table_a, table_b)
    assert not np.array_equal(np.nan_to_num(first.logits), np.nan_to_num(other.logits))
    assert table_a["config_hash"].iloc[0] != sweep(other, trace_costs(other.meta), [0.1])["config_hash"].iloc[0]
    assert table_a["experiment_hash"].iloc[0] == sweep(other, trace_costs(other.meta), [0.1])["experiment_hash"].iloc[0]  # same experiment, other seed
