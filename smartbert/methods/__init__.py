"""The suite's own method (SmartBERT); baselines live in the top-level ``baselines`` package."""
