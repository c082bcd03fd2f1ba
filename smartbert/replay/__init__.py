"""Replay: NumPy only, no torch. Exit policies, trace files, replaying a policy over a trace, sweeps,
the oracle analysis, gate statistics, accuracy/cost curves and FLOPs cost arithmetic (docs/design.md,
"Trace and replay")."""
