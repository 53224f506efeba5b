"""Pure array operations shared by engines and strategies: numba kernels, CRA."""
