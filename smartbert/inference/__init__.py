"""Inference: running a trained model. Recording a trace, dynamic (batch-1 and batched) early-exit
inference, and real latency."""
