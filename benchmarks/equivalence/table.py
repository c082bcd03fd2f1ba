"""The short Markdown table of an equivalence result (benchmarks/README.md): per backbone and task,
the worst error of each kind of check against its tolerance."""

from __future__ import annotations

KINDS = [  # (row label, predicate on (group, name), what the number is)
    ("stage 1: CE, skip, CCL, total (soft + hard)", lambda g, n: " stage 1 " in g and "grad" not in g, "max rel"),
    ("stage 1: gradients of total, CE, CCL (soft + hard)", lambda g, n: " stage 1 " in g and "grad" in g, "max rel"),
    ("stage 2: CE per classifier, CE sum, CCL, total", lambda g, n: " stage 2" in g and "grad" not in g, "max rel"),
    ("stage 2: gradients of total, CE sum, CCL", lambda g, n: " stage 2 " in g and "grad" in g, "max rel"),
    ("inference, batch-1: skips, exit layers, predictions, heads", lambda g, n: "batch-1" in g and "max abs" not in n, "wrong"),
    ("inference, replay: skips, exit layers, predictions, heads", lambda g, n: "replay" in g and "max abs" not in n, "wrong"),
    ("inference: head logits, gate probabilities", lambda g, n: "inference" in g and "max abs" in n, "max abs"),
]


def _cell(rows: list[dict], unit: str) -> str:
    if not rows:
        return ""
    worst = max(r["error"] for r in rows)
    ok = all(r["ok"] for r in rows)
    if unit == "wrong":
        total = sum(r["extra"].get("examples", 0) for r in rows)
        return f"{int(worst)} wrong of {total} ({len(rows)} checks x examples){'' if ok else ' FAIL'}"
    return f"{worst:.1e}{'' if ok else ' FAIL'}"


def smartbert_table(result: dict) -> str:
    lines = []
    for backbone, block in result["backbones"].items():
        tasks = sorted({c["group"].split()[1] for c in block["checks"]})
        lines += [f"**SmartBERT, {backbone}** ({block['mapping']['ours_tensors']} parameter tensors, "
                  f"{block['mapping']['ours_parameters']:,} values mapped; {block['gradient_checks']} per-parameter gradient checks)", "",
                  "| check | " + " | ".join(tasks) + " | tolerance |", "|---|" + "---|" * (len(tasks) + 1)]
        for label, keep, unit in KINDS:
            cells = [_cell([c for c in block["checks"] if c["group"].split()[1] == t and keep(c["group"], c["name"])], unit)
                     for t in tasks]
            tol = {"max rel": "1e-5" if "gradients" not in label else "1e-4", "wrong": "0", "max abs": "1e-4 / 1e-5"}[unit]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {tol} |")
        lines += flops_lines(block) + [""]
    return "\n".join(lines)


def flops_lines(block: dict) -> list[str]:
    """FLOPs per example (M, mean over the dev examples): the official thop count against ours."""
    if not block.get("flops"):
        return []
    lines = ["", "| FLOPs per example (M) | official thop | ours, thop per component | + the official loop's extra calls | equal examples "
             "| ours, paper convention | official / paper |", "|---|---|---|---|---|---|---|"]
    for task, rows in block["flops"].items():
        for r in rows:
            where = f"{task} S={r['threshold']:g}" + ("" if r.get("gates", True) else " gates off")
            lines.append(f"| {where} | {r['official_thop_M']:.2f} | {r['ours_thop_M']:.2f} | {r['ours_thop_as_official_loop_M']:.2f} "
                         f"| {r['examples_equal_as_official_loop']} of {r['examples']} | {r['ours_paper_M']:.2f} "
                         f"| {r['official_over_paper']:.3f} |")
    return lines


def baseline_table(result: dict) -> str:
    lines = ["| method | backbone | task | loss (max rel) | gradients (max rel) | decisions wrong | logits (max abs) |",
             "|---|---|---|---|---|---|---|"]
    for method, block in result.get("baselines", {}).items():
        checks = [c for c in block["checks"] if c["name"] != "parameter mapping"]
        keys = sorted({tuple(c["group"].split()[1:3]) for c in checks})
        for backbone, task in keys:
            mine = [c for c in checks if c["group"].split()[1:3] == [backbone, task]]
            loss = [c for c in mine if "stage" in c["group"] and "grad" not in c["group"]]
            grads = [c for c in mine if "grad" in c["group"]]
            decisions = [c for c in mine if "inference" in c["group"] and "max abs" not in c["name"]]
            logits = [c for c in mine if "max abs" in c["name"]]
            lines.append(f"| {method} | {backbone} | {task} | {_cell(loss, 'max rel')} | {_cell(grads, 'max rel')} | "
                         f"{_cell(decisions, 'wrong')} | {_cell(logits, 'max abs')} |")
    return "\n".join(lines)
