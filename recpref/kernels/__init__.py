"""Compiled CPU kernels (numba) behind the fast training paths; each has a torch reference
implementation in the tests that it must agree with."""
