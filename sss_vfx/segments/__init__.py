"""Soft segments: sparsification, grouping and upsampling of layers."""
