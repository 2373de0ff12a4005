"""Designing a plan: plan transforms, sweeps, optimisation and guardrails."""
