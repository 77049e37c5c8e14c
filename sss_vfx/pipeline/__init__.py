"""Pipelines: the only place that sequences the stages."""
