"""`smartbert flops`: FLOPs of each component of a backbone."""

from __future__ import annotations

import argparse

import pandas as pd

from smartbert.app.commands.common import write_csv
from smartbert.modeling.backbones import backbone_shape
from smartbert.modeling.flops import component_costs
from smartbert.replay.cost import analytic_layer_macs, flops_table


def run(args: argparse.Namespace) -> None:
    shape = backbone_shape(args.backbone)
    costs = component_costs(shape, args.seq_len, args.num_labels)
    table = pd.DataFrame(flops_table(costs))
    table["paper_flops_M"] = table.pop("paper_flops") / 1e6
    table["fvcore_macs_M"] = table.pop("fvcore_macs") / 1e6
    print(f"{args.backbone}: {shape.num_layers} layers x {shape.hidden} hidden, {shape.heads} heads, "
          f"ffn {shape.ffn}; sequence length {args.seq_len}, {args.num_labels} labels")
    print("paper = 2 x MACs of linear layers (the paper's convention); fvcore = all MACs fvcore counts (+ attention)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    print(f"analytic layer MACs 4sh^2 + 2sh*ffn + 2s^2h = {analytic_layer_macs(shape, args.seq_len) / 1e6:,.1f}M")
    if args.out:
        write_csv(table, args.out)
