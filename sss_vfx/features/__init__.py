"""Semantic features: preprocessing of precomputed feature maps."""
