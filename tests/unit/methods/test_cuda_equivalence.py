"""CUDA against the CPU (``-m gpu``; make gpu-check runs this file): the same trained tiny model on
both, for every registered method and threshold policy, at each precision a CUDA run may use. Logits
and gate probabilities agree within the precision's tolerance, and exit decisions are identical
(replay on the CPU = batch 1 and batched on CUDA) for every example whose decisions are further than
that tolerance from flipping. On the CPU, ``test_the_comparison_itself_on_the_cpu`` runs the same
comparison with the CPU on both sides, so the comparison is known to hold where it must."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch

from smartbert.methods.registry import get_method, method_names
from smartbert.replay.policies import POLICIES
from tests.helpers import assert_device_agrees_with_cpu

#: logits (and gate probabilities) of CUDA vs the CPU, at most: float32 kernels differ in summation
#: order only (~1e-6 on the tiny models); TF32 matmuls keep 10 mantissa bits (~5e-4 relative per product)
TOLERANCE = {"fp32": 1e-4, "tf32": 2e-2}
THRESHOLD_POLICIES = [name for name, cls in POLICIES.items() if not cls.is_static()]
CASES = [(name, policy) for name in method_names()
         for policy in (THRESHOLD_POLICIES[:1] if get_method(name).static else THRESHOLD_POLICIES)]


@pytest.fixture(params=list(TOLERANCE))
def precision(request) -> Iterator[str]:
    """CUDA matmuls in full float32 or TF32 (``torch.backends.*.allow_tf32``), restored afterwards."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = request.param == "tf32"
    yield request.param
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name, policy_name", CASES)
def test_cuda_agrees_with_the_cpu(name: str, policy_name: str, precision: str, trained_model, sentiment_pool) -> None:
    cpu_model = trained_model(name)
    assert_device_agrees_with_cpu(cpu_model, copy.deepcopy(cpu_model).to("cuda"), sentiment_pool, policy_name,
                                  TOLERANCE[precision])


@pytest.mark.parametrize("name, policy_name", [("smartbert", "entropy"), ("pabee", "patience")])
def test_the_comparison_itself_on_the_cpu(name: str, policy_name: str, trained_model, sentiment_pool) -> None:
    """The CUDA comparison with the CPU on both sides holds (no near tie it would trip on counts),
    and it fails when the other side's logits are off by more than the tolerance."""
    cpu_model = trained_model(name)
    assert_device_agrees_with_cpu(cpu_model, copy.deepcopy(cpu_model), sentiment_pool, policy_name, TOLERANCE["fp32"])
    shifted = copy.deepcopy(cpu_model)
    with torch.no_grad():
        last = shifted.head(shifted.num_layers)
        bias = [p for n, p in last.named_parameters() if n.endswith("bias")][-1]
        bias[0] += 10 * TOLERANCE["fp32"]
    with pytest.raises(AssertionError, match="logits"):
        assert_device_agrees_with_cpu(cpu_model, shifted, sentiment_pool, policy_name, TOLERANCE["fp32"])
