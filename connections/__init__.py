"""How every process reaches Temporal and in-cluster Services: one place, importable by all of them."""
