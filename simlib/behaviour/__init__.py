"""Reps who respond to the plan: the ``dynamic`` behaviour model and its runtime policy.

A behaviour model turns a plan into a policy per role (how much effort, where
and when, month by month); :mod:`simlib.model.contracts` states what the
engine asks of both.
"""
