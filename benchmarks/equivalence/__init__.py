"""Step-by-step equivalence of our methods with their official codes (issue 33).

Not part of the library: the harness (``benchmarks/official_equivalence.py``) loads an official
checkout the user fetched, maps every parameter between the two models and compares losses,
gradients, inference decisions and FLOPs. ``compare`` and ``mapping`` hold the logic the unit test
checks on two copies of our own model; ``smartbert_pair``, ``official_code``, ``thop_count`` and
``baselines`` the parts that need the official code.
"""
