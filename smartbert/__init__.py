"""SmartBERT reproduction suite: dynamic early exiting + layer skipping for BERT (IJCAI 2023).

Library layout (one job per module): ``data`` (tasks, sources, tokenisation), ``backbones``,
``heads``, ``encoder``, ``registry`` (the method interface), ``trace`` (exit policies, replay,
cost), ``flops``, ``metrics``, ``trainer``, ``checkpoint``, ``cli``.
"""

__version__ = "0.1.0"
