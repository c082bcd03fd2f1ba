"""Methods: the interface a method implements (:mod:`smartbert.methods.registry`), the registry, the
checkpoint format, and SmartBERT itself; the baselines are plugins in the top-level ``baselines``."""
