"""Helpers shared by the tests of labelings."""


def same_partition(a, b):
    """Labelings equal up to renaming."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))
