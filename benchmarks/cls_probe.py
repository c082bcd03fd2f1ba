"""Why DeeBERT's early off-ramps learn nothing on a backbone: linear probes on a fine-tuned `bert`
model's frozen layers (stage 1 of DeeBERT). Per layer: logistic regression on [CLS] and on the tokens'
mean (first N training examples), dev accuracy; the share of the trained pooler's tanh units above
0.99 on each layer's [CLS] (saturation); the mean [CLS] norm. README "Baselines" quotes the result.

Usage: GLUE_DIR=../shared/glue python benchmarks/cls_probe.py MODEL_DIR OUT.json [--task SST-2] [--train 8000]
"""
import argparse
import json
import os

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from smartbert.data.encode import iterate_batches
from smartbert.data.prepare import DataOptions, load_encoded
from smartbert.data.tasks import get_task
from smartbert.methods.checkpoint import load_model
from smartbert.modeling.encoder import additive_mask

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model")
parser.add_argument("out")
parser.add_argument("--task", default="SST-2")
parser.add_argument("--train", type=int, default=8000)
args = parser.parse_args()
loaded = load_model(args.model)
model = loaded.model.eval()
spec = get_task(args.task)
layers = model.num_layers
def features(split, n=None):
    data = load_encoded(spec, split, loaded.tokenizer, 128, DataOptions("auto", os.environ.get("GLUE_DIR")))
    if n:
        data = data.subset(list(range(min(n, len(data)))))
    cls, mean, sat, labels = [[] for _ in range(layers)], [[] for _ in range(layers)], [[] for _ in range(layers)], []
    pooler = model.head(layers).pooler
    with torch.inference_mode():
        for batch in iterate_batches(data, 64, shuffle=False):
            h = model.encoder.embed(batch["input_ids"], batch["token_type_ids"])
            m = additive_mask(batch["attention_mask"], h.dtype)
            w = batch["attention_mask"].unsqueeze(-1).float()
            for i in range(layers):
                h = model.encoder.layer(i, h, m)
                cls[i].append(h[:, 0].numpy())
                mean[i].append(((h * w).sum(1) / w.sum(1)).numpy())
                sat[i].append((torch.tanh(pooler(h[:, 0])).abs() > 0.99).float().mean(1).numpy())
            labels.append(batch["labels"].numpy())
    cat = lambda xs: [np.concatenate(x) for x in xs]
    return cat(cls), cat(mean), cat(sat), np.concatenate(labels)
tr, dv = features("train", args.train), features("dev")
rows = []
for i in range(layers):
    row = {"layer": i + 1}
    for name, k in (("cls", 0), ("mean", 1)):
        clf = LogisticRegression(max_iter=2000, C=1.0).fit(tr[k][i], tr[3])
        row[f"{name}_probe_dev_acc"] = round(100 * clf.score(dv[k][i], dv[3]), 1)
    row["pooler_tanh_saturated_share"] = round(float(dv[2][i].mean()), 3)
    row["cls_norm"] = round(float(np.linalg.norm(dv[0][i], axis=1).mean()), 2)
    rows.append(row)
    print(row, flush=True)
with open(args.out, "w") as handle:
    json.dump({"model": args.model, "task": spec.name, "train_examples": args.train, "layers": rows}, handle, indent=2)
