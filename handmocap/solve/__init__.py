"""Solvers: global positioning (DGP) and per-frame fitting of hand parameters."""
