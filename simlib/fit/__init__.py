"""The model against evidence: history files, synthetic histories, calibration,
backtests and the research findings the behaviour model must reproduce."""
